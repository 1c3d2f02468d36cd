//! Slows down password guessing on the sign-in form: after too many failed attempts for one
//! account or from one address within a window, further attempts are refused without
//! checking the password until the window ends.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed attempts per account within [`WINDOW`] before the account is refused.
pub const MAX_PER_ACCOUNT: u32 = 5;
/// Failed attempts per client address within [`WINDOW`]; higher, as addresses are shared.
pub const MAX_PER_ADDRESS: u32 = 20;
/// Entries kept before expired ones are dropped.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
}

/// Failed sign-ins per account and per address, in memory (per server process).
#[derive(Debug, Default)]
pub struct SignInLimiter {
    failures: Mutex<HashMap<String, Failures>>,
}

fn account_key(account: &str) -> String {
    format!("u:{}", packages_core::lower(account))
}

fn address_key(address: &str) -> String {
    format!("a:{address}")
}

impl SignInLimiter {
    /// `Err(seconds to wait)` when the account or the address has used up its attempts.
    pub fn check(&self, account: &str, address: &str) -> Result<(), u64> {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let blocked = |key: String, max: u32| {
            failures
                .get(&key)
                .filter(|f| f.count >= max && now.duration_since(f.first) < WINDOW)
                .map(|f| (WINDOW - now.duration_since(f.first)).as_secs().max(1))
        };
        match blocked(account_key(account), MAX_PER_ACCOUNT)
            .or_else(|| blocked(address_key(address), MAX_PER_ADDRESS))
        {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt against the account and the address.
    pub fn failed(&self, account: &str, address: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if failures.len() >= MAX_ENTRIES {
            failures.retain(|_, f| now.duration_since(f.first) < WINDOW);
        }
        for key in [account_key(account), address_key(address)] {
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                first: now,
            });
            if now.duration_since(entry.first) >= WINDOW {
                *entry = Failures {
                    count: 0,
                    first: now,
                };
            }
            entry.count += 1;
        }
    }

    /// A successful sign-in clears the account's failures (not the address's).
    pub fn succeeded(&self, account: &str) {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&account_key(account));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_is_refused_after_its_attempts() {
        let limiter = SignInLimiter::default();
        for _ in 0..MAX_PER_ACCOUNT {
            assert!(limiter.check("Alice", "10.0.0.1").is_ok());
            limiter.failed("alice", "10.0.0.1");
        }
        let wait = limiter.check("ALICE", "10.0.0.2").expect_err("refused");
        assert!(wait > 0 && wait <= WINDOW.as_secs());
        assert!(limiter.check("bob", "10.0.0.2").is_ok());
        limiter.succeeded("alice");
        assert!(limiter.check("alice", "10.0.0.2").is_ok());
    }

    #[test]
    fn address_is_refused_after_its_attempts() {
        let limiter = SignInLimiter::default();
        for i in 0..MAX_PER_ADDRESS {
            limiter.failed(&format!("user{i}"), "10.0.0.9");
        }
        assert!(limiter.check("someone", "10.0.0.9").is_err());
        assert!(limiter.check("someone", "10.0.0.8").is_ok());
    }
}

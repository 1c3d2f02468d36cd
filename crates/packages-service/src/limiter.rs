//! Password-guessing limits, shared by every path that takes a password (Basic credentials
//! on the API and on every registry route, token creation, the registry's token login, the
//! web sign-in form) and by every instance on the database: after too many failed attempts
//! for one account, or from one client address, within the window, password attempts are
//! refused with 429 until the window passes, before any password is checked, so a locked
//! account costs no hashing. Access tokens and signed links are not passwords and keep
//! working.

use std::net::IpAddr;

use packages_core::clock::now_ms;

use crate::error::{ServiceError, ServiceResult};
use crate::state::Service;
pub use crate::state::{LoginLimits, LoginRefusals};

fn account_key(account: &str) -> String {
    format!("account:{}", packages_core::lower(account.trim()))
}

fn address_key(address: IpAddr) -> String {
    format!("address:{address}")
}

/// Refuses a password attempt for `account` from `address` when either is past its limit:
/// [`ServiceError::TooManyAttempts`] with the seconds until the oldest counted failure leaves
/// the window. Otherwise answers how many failures of the account are in the window.
/// Blocking.
pub fn check(state: &Service, account: &str, address: Option<IpAddr>) -> ServiceResult<usize> {
    let limits = state.settings.login_limits;
    let now = now_ms();
    let window_ms = limits.window.as_millis().min(i64::MAX as u128) as i64;
    let since = now.saturating_sub(window_ms);
    let mut keys = vec![(account_key(account), limits.per_account)];
    if let Some(address) = address {
        keys.push((address_key(address), limits.per_address));
    }
    let mut account_failures = 0;
    for (i, (key, max)) in keys.into_iter().enumerate() {
        // Without a limit the account's failures are still looked at (a few), so that a
        // sign-in can clear them.
        let fetch = if max == 0 { 1 } else { i64::from(max) };
        let failures = state.db.login_failures(&key, since, fetch)?;
        if i == 0 {
            account_failures = failures.len();
        }
        if max == 0 {
            continue;
        }
        if failures.len() >= max as usize {
            let oldest = failures.first().copied().unwrap_or(now);
            let wait_ms = oldest.saturating_add(window_ms).saturating_sub(now);
            state.login_refusals.count();
            return Err(ServiceError::TooManyAttempts {
                retry_after_secs: (wait_ms.max(0) as u64).div_ceil(1000).max(1),
            });
        }
    }
    Ok(account_failures)
}

/// Counts a failed password attempt against the account and the address. Blocking.
pub fn failed(state: &Service, account: &str, address: Option<IpAddr>) {
    let mut keys = vec![account_key(account)];
    if let Some(address) = address {
        keys.push(address_key(address));
    }
    if let Err(e) = state.db.record_login_failure(&keys, now_ms()) {
        log::warn!("could not record a failed sign-in: {e}");
    }
    // Failures are rare and each already cost a password check: dropping the ones no window
    // counts any more here keeps the table small without a job of its own.
    if let Err(e) = prune(state) {
        log::warn!("could not prune old failed sign-ins: {e}");
    }
}

/// A successful password sign-in clears the account's failures (not the address's).
pub fn succeeded(state: &Service, account: &str) {
    if let Err(e) = state.db.clear_login_failures(&account_key(account)) {
        log::warn!("could not clear the failed sign-ins of an account: {e}");
    }
}

/// Removes failures that no window counts any more. Blocking.
pub fn prune(state: &Service) -> ServiceResult<usize> {
    let window_ms = state
        .settings
        .login_limits
        .window
        .as_millis()
        .min(i64::MAX as u128) as i64;
    Ok(state
        .db
        .prune_login_failures(now_ms().saturating_sub(window_ms))?)
}

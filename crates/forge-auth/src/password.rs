//! Password hashing with bcrypt, and a short-lived cache of successful verifications.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use packages_core::lower;
use sha2::Sha256;

use crate::error::AuthError;

/// Shortest password accepted for a new password (Gitea's default `MIN_PASSWORD_LENGTH`).
pub const MIN_PASSWORD_BYTES: usize = 8;
/// Longest password accepted: bcrypt ignores everything after 72 bytes, so a longer password
/// would silently be weaker than its owner thinks.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// bcrypt cost used unless configured otherwise (about a quarter of a second per hash).
pub const DEFAULT_BCRYPT_COST: u32 = bcrypt::DEFAULT_COST;

/// The range of costs bcrypt accepts.
const MIN_COST: u32 = 4;
const MAX_COST: u32 = 31;

/// Checks a password a user is about to set.
pub fn validate_new_password(password: &str) -> Result<(), AuthError> {
    if password.len() < MIN_PASSWORD_BYTES {
        return Err(AuthError::PasswordTooShort {
            min: MIN_PASSWORD_BYTES,
        });
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::PasswordTooLong {
            max: MAX_PASSWORD_BYTES,
        });
    }
    Ok(())
}

/// Hashes a password with bcrypt at `cost` (4..=31). CPU-heavy: run it off async workers.
///
/// Passwords over 72 bytes are refused rather than truncated; the minimum length is a policy
/// for new passwords and is checked by [`validate_new_password`], not here.
pub fn hash_password(password: &str, cost: u32) -> Result<String, AuthError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::PasswordTooLong {
            max: MAX_PASSWORD_BYTES,
        });
    }
    bcrypt::hash(password, cost).map_err(|e| AuthError::PasswordHash(e.to_string()))
}

/// Whether `password` matches a stored bcrypt hash. CPU-heavy: run it off async workers.
///
/// A password over 72 bytes never matches: we never hash such passwords, and bcrypt would
/// otherwise accept any suffix after the 72nd byte of a real one. A malformed stored hash is
/// logged and treated as a mismatch.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match bcrypt::verify(password, stored_hash) {
        Ok(matches) => matches,
        Err(e) => {
            log::warn!("stored password hash cannot be verified: {e}");
            false
        }
    }
}

/// Spends the time of one [`verify_password`] at `cost` without checking anything.
///
/// Call it when the user name is unknown (or has no password) so the response takes as long
/// as for a wrong password and does not reveal which user names exist. The hash it verifies
/// against is made once per cost and kept; call it once at start-up to keep that first, slower
/// call away from requests.
pub fn dummy_verify(password: &str, cost: u32) {
    static DUMMY_HASHES: [OnceLock<Option<String>>; (MAX_COST - MIN_COST + 1) as usize] =
        [const { OnceLock::new() }; (MAX_COST - MIN_COST + 1) as usize];

    let cost = cost.clamp(MIN_COST, MAX_COST);
    let Some(slot) = DUMMY_HASHES.get((cost - MIN_COST) as usize) else {
        return;
    };
    let dummy = slot.get_or_init(
        || match bcrypt::hash("forge-packages timing filler", cost) {
            Ok(hash) => Some(hash),
            Err(e) => {
                // Without a hash there is nothing to spend time on; the timing difference is the
                // lesser evil compared with failing the request.
                log::warn!("cannot prepare the dummy password hash: {e}");
                None
            }
        },
    );
    if let Some(hash) = dummy {
        // Same code path as a real check, including the length short-cut.
        std::hint::black_box(verify_password(password, hash));
    }
}

/// Remembers recent successful password verifications for a short time.
///
/// Package clients send Basic credentials on every request, and a full bcrypt per request
/// would cap throughput at a few requests per second per core. An entry is keyed by an HMAC
/// (with a key that only lives in this process's memory) over the lowercased user name, the
/// password and the stored bcrypt hash: the password never sits in memory in a recoverable
/// form, and changing the password changes the stored hash, so old entries stop matching.
///
/// The cache only answers "this password matches this hash". The caller still loads the user
/// on every request and checks that it is active and allowed to sign in.
pub struct VerifiedPasswordCache {
    mac: Hmac<Sha256>,
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<[u8; 32], CacheEntry>>,
}

struct CacheEntry {
    expires: Instant,
    /// Lowercased user name, so [`VerifiedPasswordCache::forget_user`] can find the entries.
    user: String,
}

impl VerifiedPasswordCache {
    /// How long a verification is trusted by default.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(60);
    /// How many verifications are kept by default.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// A cache with the default TTL and capacity.
    pub fn new() -> Result<Self, AuthError> {
        Self::with_limits(Self::DEFAULT_TTL, Self::DEFAULT_CAPACITY)
    }

    /// A cache trusting a verification for `ttl` and holding at most `capacity` entries.
    /// A zero TTL or capacity disables caching.
    pub fn with_limits(ttl: Duration, capacity: usize) -> Result<Self, AuthError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        let mac = Hmac::<Sha256>::new_from_slice(&key)
            .map_err(|e| AuthError::Crypto(format!("HMAC key: {e}")))?;
        Ok(VerifiedPasswordCache {
            mac,
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `password` was verified against `stored_hash` for `user` within the TTL.
    pub fn is_verified(&self, user: &str, password: &str, stored_hash: &str) -> bool {
        let key = self.entry_key(&lower(user), password, stored_hash);
        let now = Instant::now();
        let mut entries = self.lock();
        match entries.get(&key) {
            Some(entry) if entry.expires > now => true,
            Some(_) => {
                entries.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Records that `password` matched `stored_hash` for `user`. Call only after a successful
    /// [`verify_password`]; failures must never be cached.
    pub fn remember(&self, user: &str, password: &str, stored_hash: &str) {
        if self.capacity == 0 {
            return;
        }
        let now = Instant::now();
        let Some(expires) = now.checked_add(self.ttl) else {
            return;
        };
        if expires <= now {
            return;
        }
        let user = lower(user);
        let key = self.entry_key(&user, password, stored_hash);
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, entry| entry.expires > now);
            // Still full of live entries: dropping them all costs each user one bcrypt and
            // keeps memory bounded without tracking recency.
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, CacheEntry { expires, user });
    }

    /// Drops every entry for `user`, for example when it is disabled or deleted.
    pub fn forget_user(&self, user: &str) {
        let user = lower(user);
        self.lock().retain(|_, entry| entry.user != user);
    }

    /// Number of entries, expired ones included.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entry_key(&self, lowercased_user: &str, password: &str, stored_hash: &str) -> [u8; 32] {
        // Zero bytes separate the fields. User names cannot contain one and a bcrypt hash
        // never does, so no two different triples for a real account give the same input.
        let mut mac = self.mac.clone();
        mac.update(lowercased_user.as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.update(&[0]);
        mac.update(stored_hash.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<[u8; 32], CacheEntry>> {
        // Every critical section leaves the map consistent, so a panic elsewhere while the
        // lock was held does not make it unusable.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for VerifiedPasswordCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedPasswordCache")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bcrypt's minimum cost keeps the tests fast.
    const COST: u32 = 4;

    #[test]
    fn new_password_rules() {
        assert_eq!(
            validate_new_password("short77"),
            Err(AuthError::PasswordTooShort { min: 8 })
        );
        assert_eq!(validate_new_password("password"), Ok(()));
        assert_eq!(validate_new_password(&"x".repeat(72)), Ok(()));
        assert_eq!(
            validate_new_password(&"x".repeat(73)),
            Err(AuthError::PasswordTooLong { max: 72 })
        );
        // Bytes, not characters: 36 two-byte characters are 72 bytes.
        assert_eq!(validate_new_password(&"ä".repeat(36)), Ok(()));
        assert!(validate_new_password(&"ä".repeat(37)).is_err());
    }

    #[test]
    fn bcrypt_round_trip() {
        let hash = hash_password("password", COST).expect("hash");
        assert!(hash.starts_with("$2b$04$"), "{hash}");
        assert!(verify_password("password", &hash));
        assert!(!verify_password("Password", &hash));
        assert!(!verify_password("", &hash));
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, hash_password("password", COST).expect("hash"));
    }

    #[test]
    fn all_72_bytes_count_and_longer_is_refused() {
        let long = "y".repeat(72);
        let hash = hash_password(&long, COST).expect("hash");
        assert!(verify_password(&long, &hash));
        assert!(!verify_password(&"y".repeat(71), &hash));
        assert!(!verify_password(&format!("{long}z"), &hash));
        assert_eq!(
            hash_password(&format!("{long}z"), COST),
            Err(AuthError::PasswordTooLong { max: 72 })
        );
    }

    #[test]
    fn bad_inputs_fail_closed() {
        assert!(!verify_password("password", "not a bcrypt hash"));
        assert!(!verify_password("password", ""));
        assert!(matches!(
            hash_password("password", 3),
            Err(AuthError::PasswordHash(_))
        ));
    }

    #[test]
    fn dummy_verify_runs_for_any_cost_input() {
        dummy_verify("password", COST);
        dummy_verify("password", COST);
        // Out-of-range costs are clamped rather than panicking (0 becomes the minimum).
        dummy_verify("password", 0);
        dummy_verify(&"z".repeat(100), COST);
    }

    #[test]
    fn cache_hit_and_misses() {
        let cache = VerifiedPasswordCache::new().expect("cache");
        let hash = hash_password("password", COST).expect("hash");
        assert!(!cache.is_verified("user2", "password", &hash));
        cache.remember("User2", "password", &hash);
        assert!(cache.is_verified("user2", "password", &hash));
        assert!(
            cache.is_verified("USER2", "password", &hash),
            "user names fold case"
        );
        assert!(!cache.is_verified("user2", "Password", &hash));
        assert!(!cache.is_verified("user3", "password", &hash));

        // The password was changed (even back to the same text): a new salt, a new hash.
        let new_hash = hash_password("password", COST).expect("hash");
        assert!(!cache.is_verified("user2", "password", &new_hash));

        cache.forget_user("USER2");
        assert!(!cache.is_verified("user2", "password", &hash));
        assert!(cache.is_empty());
    }

    #[test]
    fn cache_entries_expire() {
        let cache =
            VerifiedPasswordCache::with_limits(Duration::from_millis(300), 10).expect("cache");
        cache.remember("user2", "password", "$2b$04$hash");
        assert!(cache.is_verified("user2", "password", "$2b$04$hash"));
        std::thread::sleep(Duration::from_millis(500));
        assert!(!cache.is_verified("user2", "password", "$2b$04$hash"));
        // The expired entry was dropped when it was looked up.
        assert!(cache.is_empty());
    }

    #[test]
    fn cache_stays_bounded() {
        let cache = VerifiedPasswordCache::with_limits(Duration::from_secs(60), 3).expect("cache");
        for user in ["a", "b", "c"] {
            cache.remember(user, "pw", "h");
        }
        assert_eq!(cache.len(), 3);
        // Refreshing an existing entry does not evict anything.
        cache.remember("a", "pw", "h");
        assert_eq!(cache.len(), 3);
        // Full of live entries: cleared, then the new one goes in.
        cache.remember("d", "pw", "h");
        assert_eq!(cache.len(), 1);
        assert!(cache.is_verified("d", "pw", "h"));
        assert!(!cache.is_verified("a", "pw", "h"));
    }

    #[test]
    fn full_cache_drops_expired_entries_first() {
        let cache =
            VerifiedPasswordCache::with_limits(Duration::from_millis(300), 2).expect("cache");
        cache.remember("a", "pw", "h");
        std::thread::sleep(Duration::from_millis(500));
        cache.remember("b", "pw", "h");
        cache.remember("c", "pw", "h");
        assert_eq!(cache.len(), 2);
        assert!(cache.is_verified("b", "pw", "h"));
        assert!(cache.is_verified("c", "pw", "h"));
    }

    #[test]
    fn zero_limits_disable_caching() {
        let no_room = VerifiedPasswordCache::with_limits(Duration::from_secs(60), 0).expect("c");
        no_room.remember("a", "pw", "h");
        assert!(!no_room.is_verified("a", "pw", "h"));
        let no_time = VerifiedPasswordCache::with_limits(Duration::ZERO, 10).expect("c");
        no_time.remember("a", "pw", "h");
        assert!(!no_time.is_verified("a", "pw", "h"));
        assert!(no_time.is_empty());
    }

    #[test]
    fn debug_does_not_show_the_key() {
        let cache = VerifiedPasswordCache::new().expect("cache");
        let shown = format!("{cache:?}");
        assert!(shown.starts_with("VerifiedPasswordCache"), "{shown}");
        assert!(!shown.contains("mac"), "{shown}");
    }
}

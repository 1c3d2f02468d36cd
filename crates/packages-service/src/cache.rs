//! Reads that almost every request repeats (owner by name, token, team membership, file
//! look-up, the bytes of small files), kept in memory.
//!
//! Each kind of read has its own bounded cache (moka: eviction by recency and frequency,
//! a time-to-live, and one load for many concurrent misses of a key, so an entry that
//! expires under load costs one database query rather than one per waiting request).
//! Committed writes say which kinds they change ([`packages_db::Change`]); this process
//! hears of its own writes at once and, on PostgreSQL, of other processes' writes through
//! the change feed. While that feed is down nothing is cached, since a change could go
//! unheard; the time-to-live is the backstop for writers that cannot announce themselves
//! (another process on the same SQLite file). Only positive answers of owners, tokens and
//! file look-ups are kept: a name that does not exist is always asked again. File contents
//! are keyed by their SHA-256 and so can never be stale.

use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::sync::Cache;
use packages_db::{AccessToken, Change, ChangeSink, DbError, FileLookup, MembershipRow, User};

/// Entries per kind.
const MAX_ENTRIES: u64 = 20_000;
/// Bytes of file content kept.
const MAX_BLOB_BYTES: u64 = 16 << 20;
/// Largest file whose content is kept.
const MAX_BLOB_SIZE: usize = 256 << 10;

/// How a load ended when its answer is not to be kept.
enum Uncached<V> {
    /// An answer not worth keeping (a negative look-up), handed to every waiting caller.
    Answer(V),
    Failed(DbError),
}

/// Hit and miss counts of one kind of cached read, for the metrics.
#[derive(Default)]
struct HitsMisses {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl HitsMisses {
    fn count<T>(&self, found: Option<T>) -> Option<T> {
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn get(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

/// A kept answer and when it was loaded.
struct Slot<V> {
    value: V,
    loaded: Instant,
    /// Who reloads the answer ahead of its expiry: [`FRESH`], [`SENT`] or [`RELOADING`].
    refresh: AtomicU8,
}

/// Nobody is reloading the answer yet.
const FRESH: u8 = 0;
/// A caller that cannot load was told the answer is missing, so that it loads it.
const SENT: u8 = 1;
/// A loading caller is reloading it; everyone else uses the answer until it is replaced.
const RELOADING: u8 = 2;

impl<V> Slot<V> {
    /// Whether the caller that cannot load is the one to be sent to reload it.
    fn send(&self) -> bool {
        self.refresh
            .compare_exchange(FRESH, SENT, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether this loading caller is the one to reload it: the first, or the one sent.
    fn take_reload(&self) -> bool {
        self.refresh.swap(RELOADING, Ordering::AcqRel) != RELOADING
    }
}

/// The cached reads of one kind.
///
/// An answer expires `ttl` after it was loaded and is then loaded again by the next request
/// that needs it, while every other request for it waits. For answers in steady use that
/// wait would come back every `ttl`, so once an answer is past [`REFRESH_AT`] of its life the
/// first request that sees it on the async worker is told it is missing (and so reloads it
/// on the blocking pool), while the others go on using it until the new one replaces it.
/// No answer is used past its `ttl` either way.
struct Kind<K, V> {
    entries: Cache<K, Arc<Slot<V>>>,
    /// Age from which an answer is reloaded ahead of its expiry.
    refresh_after: Duration,
    /// Look-ups answered and not answered.
    counts: HitsMisses,
    /// Moves on whenever the kind is invalidated, so a load that raced with an invalidation
    /// does not leave its (possibly older) answer behind.
    generation: AtomicU64,
}

/// The share of its time-to-live after which an answer in use is reloaded ahead.
const REFRESH_AT: f64 = 0.75;

impl<K, V> Kind<K, V>
where
    K: Hash + Eq + Send + Sync + Clone + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new(ttl: Duration) -> Self {
        let ttl = ttl.max(Duration::from_millis(1));
        Kind {
            entries: Cache::builder()
                .max_capacity(MAX_ENTRIES)
                .time_to_live(ttl)
                .build(),
            refresh_after: ttl.mul_f64(REFRESH_AT),
            counts: HitsMisses::default(),
            generation: AtomicU64::new(0),
        }
    }

    fn slot(value: V) -> Arc<Slot<V>> {
        Arc::new(Slot {
            value,
            loaded: Instant::now(),
            refresh: AtomicU8::new(FRESH),
        })
    }

    /// The answer for a caller that cannot load: `None` when there is none, and for the
    /// first caller that finds it due for reloading ahead of its expiry.
    fn get(&self, key: &K) -> Option<V> {
        let found = self.entries.get(key).and_then(|slot| {
            let sent = slot.loaded.elapsed() >= self.refresh_after && slot.send();
            (!sent).then(|| slot.value.clone())
        });
        self.counts.count(found)
    }

    /// The cached answer, or `load`'s: `(answer, keep)`. Concurrent callers of one key wait
    /// for a single load and share its answer, kept or not. An answer due for reloading
    /// ahead of its expiry is reloaded by one caller (the one sent, or the first) while the
    /// others keep using it.
    fn get_or_load(
        &self,
        key: K,
        load: impl FnOnce() -> Result<(V, bool), DbError>,
    ) -> Result<V, DbError> {
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some(slot) = self.entries.get(&key) {
            if slot.loaded.elapsed() < self.refresh_after || !slot.take_reload() {
                self.counts.count(Some(()));
                return Ok(slot.value.clone());
            }
            self.counts.count(None::<()>);
            let (value, keep) = load()?;
            if keep {
                self.entries.insert(key.clone(), Self::slot(value.clone()));
            } else {
                self.entries.invalidate(&key);
            }
            self.drop_if_invalidated(&key, generation);
            return Ok(value);
        }
        self.counts.count(None::<()>);
        let result = self.entries.try_get_with(key.clone(), || match load() {
            Ok((value, true)) => Ok(Self::slot(value)),
            Ok((value, false)) => Err(Uncached::Answer(value)),
            Err(e) => Err(Uncached::Failed(e)),
        });
        match result {
            Ok(slot) => {
                self.drop_if_invalidated(&key, generation);
                Ok(slot.value.clone())
            }
            Err(uncached) => match &*uncached {
                Uncached::Answer(value) => Ok(value.clone()),
                Uncached::Failed(e) => Err(e.clone()),
            },
        }
    }

    /// An invalidation that began after a load's query may have run before the answer was
    /// stored: drop it again. (The invalidation bumps the generation before it clears, so one
    /// of the two always removes the entry.)
    fn drop_if_invalidated(&self, key: &K, generation: u64) {
        if self.generation.load(Ordering::SeqCst) != generation {
            self.entries.invalidate(key);
        }
    }

    fn clear(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate_all();
    }
}

/// Key of a file look-up: owner, package type and the lowercased name, version and file.
pub type FileKey = (i64, &'static str, String, String, String);

/// The cached reads of one server process.
pub struct ReadCache {
    ttl: Duration,
    /// Set while the feed of other processes' changes is down.
    suspended: AtomicBool,
    owners: Kind<String, Option<Arc<User>>>,
    tokens: Kind<String, Option<Arc<(AccessToken, User)>>>,
    memberships: Kind<(i64, i64), MembershipRow>,
    files: Kind<FileKey, Arc<FileLookup>>,
    blobs: Cache<String, Bytes>,
    blob_counts: HitsMisses,
}

impl ReadCache {
    /// A cache whose entries live at most `ttl` (zero turns caching off). With
    /// `wait_for_feed` nothing is cached until [`ChangeSink::feed_restored`] is called.
    pub fn new(ttl: Duration, wait_for_feed: bool) -> Self {
        ReadCache {
            ttl,
            suspended: AtomicBool::new(wait_for_feed),
            owners: Kind::new(ttl),
            tokens: Kind::new(ttl),
            memberships: Kind::new(ttl),
            files: Kind::new(ttl),
            blobs: Cache::builder()
                .max_capacity(MAX_BLOB_BYTES)
                .weigher(|_, bytes: &Bytes| u32::try_from(bytes.len()).unwrap_or(u32::MAX))
                .build(),
            blob_counts: HitsMisses::default(),
        }
    }

    /// Hits and misses so far of each kind of cached read.
    pub fn stats(&self) -> [(&'static str, u64, u64); 5] {
        let row = |kind, (hits, misses)| (kind, hits, misses);
        [
            row("owner", self.owners.counts.get()),
            row("token", self.tokens.counts.get()),
            row("membership", self.memberships.counts.get()),
            row("file", self.files.counts.get()),
            row("content", self.blob_counts.get()),
        ]
    }

    /// Whether answers may be kept and used now.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero() && !self.suspended.load(Ordering::SeqCst)
    }

    /// A cached owner by lowercased name.
    pub fn owner(&self, lower_name: &str) -> Option<Arc<User>> {
        self.enabled()
            .then(|| self.owners.get(&lower_name.to_owned()).flatten())
            .flatten()
    }

    /// The cached owner, or `load`'s answer (kept when it found one).
    pub fn owner_or_load(
        &self,
        lower_name: String,
        load: impl FnOnce() -> Result<Option<Arc<User>>, DbError>,
    ) -> Result<Option<Arc<User>>, DbError> {
        if !self.enabled() {
            return load();
        }
        self.owners
            .get_or_load(lower_name, || load().map(|u| (u.clone(), u.is_some())))
    }

    /// A cached token (with its user) by the hash of its secret.
    pub fn token(&self, hash: &str) -> Option<Arc<(AccessToken, User)>> {
        self.enabled()
            .then(|| self.tokens.get(&hash.to_owned()).flatten())
            .flatten()
    }

    /// The cached token, or `load`'s answer (kept when it found one).
    pub fn token_or_load(
        &self,
        hash: String,
        load: impl FnOnce() -> Result<Option<Arc<(AccessToken, User)>>, DbError>,
    ) -> Result<Option<Arc<(AccessToken, User)>>, DbError> {
        if !self.enabled() {
            return load();
        }
        self.tokens
            .get_or_load(hash, || load().map(|t| (t.clone(), t.is_some())))
    }

    /// What a user is in an organisation, if cached.
    pub fn membership(&self, org_id: i64, user_id: i64) -> Option<MembershipRow> {
        self.enabled()
            .then(|| self.memberships.get(&(org_id, user_id)))
            .flatten()
    }

    /// The cached membership, or `load`'s answer (always kept, "no member" too).
    pub fn membership_or_load(
        &self,
        org_id: i64,
        user_id: i64,
        load: impl FnOnce() -> Result<MembershipRow, DbError>,
    ) -> Result<MembershipRow, DbError> {
        if !self.enabled() {
            return load();
        }
        self.memberships
            .get_or_load((org_id, user_id), || load().map(|m| (m, true)))
    }

    /// A cached file look-up.
    pub fn file(&self, key: &FileKey) -> Option<Arc<FileLookup>> {
        self.enabled().then(|| self.files.get(key)).flatten()
    }

    /// The cached file look-up, or `load`'s answer (kept when it found the file).
    pub fn file_or_load(
        &self,
        key: FileKey,
        load: impl FnOnce() -> Result<Arc<FileLookup>, DbError>,
    ) -> Result<Arc<FileLookup>, DbError> {
        if !self.enabled() {
            return load();
        }
        self.files.get_or_load(key, || {
            load().map(|f| {
                let keep = matches!(*f, FileLookup::Found { .. });
                (f, keep)
            })
        })
    }

    /// The content stored under `sha256`, if it is held in memory.
    pub fn blob(&self, sha256: &str) -> Option<Bytes> {
        self.blob_counts.count(self.blobs.get(sha256))
    }

    /// Keeps the content of a small file.
    pub fn put_blob(&self, sha256: &str, bytes: Bytes) {
        if !self.ttl.is_zero() && bytes.len() <= MAX_BLOB_SIZE {
            self.blobs.insert(sha256.to_owned(), bytes);
        }
    }

    /// Drops every cached read (file contents stay: they cannot go stale).
    fn clear_reads(&self) {
        self.owners.clear();
        self.tokens.clear();
        self.memberships.clear();
        self.files.clear();
    }
}

impl ChangeSink for ReadCache {
    fn changed(&self, changes: &[Change]) {
        let (mut owners, mut tokens, mut teams, mut files) = (false, false, false, false);
        for change in changes {
            match change {
                // A token entry carries its user.
                Change::Owner(_) => (owners, tokens) = (true, true),
                Change::Tokens(_) => tokens = true,
                Change::Teams(_) => teams = true,
                Change::Files(_) => files = true,
            }
        }
        if owners {
            self.owners.clear();
        }
        if tokens {
            self.tokens.clear();
        }
        if teams {
            self.memberships.clear();
        }
        if files {
            self.files.clear();
        }
    }

    fn changed_unknown(&self) {
        self.clear_reads();
    }

    fn feed_lost(&self) {
        // Suspend first: a read that starts now neither uses nor keeps anything.
        self.suspended.store(true, Ordering::SeqCst);
        self.clear_reads();
    }

    fn feed_restored(&self) {
        // Whatever changed while the feed was down went unheard.
        self.clear_reads();
        self.suspended.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use packages_core::{AccessMode, OwnerKind, Visibility};

    fn user(id: i64, name: &str) -> Arc<User> {
        Arc::new(User {
            id,
            name: name.into(),
            lower_name: name.into(),
            kind: OwnerKind::User,
            full_name: String::new(),
            description: String::new(),
            email: String::new(),
            lower_email: String::new(),
            password_hash: None,
            is_admin: false,
            is_active: true,
            prohibit_login: false,
            is_restricted: false,
            visibility: Visibility::Public,
            must_change_password: false,
            created_unix: 0,
            updated_unix: 0,
            last_login_unix: 0,
            website: String::new(),
            location: String::new(),
        })
    }

    fn no_member() -> MembershipRow {
        MembershipRow {
            is_member: false,
            is_owner: false,
            max_team_authorize: AccessMode::None,
            max_packages_unit: AccessMode::None,
        }
    }

    #[test]
    fn positive_answers_are_kept_until_their_kind_changes() {
        let cache = ReadCache::new(Duration::from_secs(60), false);
        let alice = user(1, "alice");
        let got = cache
            .owner_or_load("alice".into(), || Ok(Some(alice.clone())))
            .unwrap();
        assert_eq!(got.map(|u| u.id), Some(1));
        assert_eq!(cache.owner("alice").map(|u| u.id), Some(1));
        // A negative answer is not kept.
        assert!(cache
            .owner_or_load("bob".into(), || Ok(None))
            .unwrap()
            .is_none());
        assert!(cache.owner("bob").is_none());
        // Other kinds leave owners alone; an owner change drops them.
        cache.changed(&[Change::Files(1), Change::Teams(0)]);
        assert!(cache.owner("alice").is_some());
        cache.changed(&[Change::Owner(1)]);
        assert!(cache.owner("alice").is_none());
    }

    #[test]
    fn a_lost_feed_suspends_caching_until_it_is_back() {
        let cache = ReadCache::new(Duration::from_secs(60), true);
        let alice = user(1, "alice");
        cache
            .owner_or_load("alice".into(), || Ok(Some(alice.clone())))
            .unwrap();
        assert!(
            cache.owner("alice").is_none(),
            "nothing kept before the feed"
        );
        cache.feed_restored();
        cache
            .owner_or_load("alice".into(), || Ok(Some(alice.clone())))
            .unwrap();
        assert!(cache.owner("alice").is_some());
        cache.feed_lost();
        assert!(cache.owner("alice").is_none());
        cache.feed_restored();
        assert!(cache.owner("alice").is_none(), "flushed, not resumed");
    }

    #[test]
    fn a_load_that_races_an_invalidation_is_not_kept() {
        let cache = ReadCache::new(Duration::from_secs(60), false);
        let stale = user(1, "alice");
        cache
            .owner_or_load("alice".into(), || {
                // The change commits while this (older) answer is on its way.
                cache.changed(&[Change::Owner(1)]);
                Ok(Some(stale.clone()))
            })
            .unwrap();
        assert!(cache.owner("alice").is_none());
    }

    #[test]
    fn entries_expire() {
        let cache = ReadCache::new(Duration::from_millis(30), false);
        cache.membership_or_load(1, 2, || Ok(no_member())).unwrap();
        assert!(cache.membership(1, 2).is_some());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.membership(1, 2).is_none());
    }

    #[test]
    fn an_answer_in_use_is_reloaded_ahead_of_its_expiry_by_one_caller() {
        // Reloaded from 1.5 s on, expired at 2 s (wide, for a busy machine).
        let cache = ReadCache::new(Duration::from_secs(2), false);
        let loads = AtomicU64::new(0);
        let load = |id| {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(Some(user(id, "alice")))
        };
        cache.owner_or_load("alice".into(), || load(1)).unwrap();
        // Young: a loading caller uses the kept answer.
        cache.owner_or_load("alice".into(), || load(2)).unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        std::thread::sleep(Duration::from_millis(1600));
        // Due: the first caller that cannot load is sent to load it; the others keep using
        // the kept answer meanwhile.
        assert!(
            cache.owner("alice").is_none(),
            "the first is sent to reload"
        );
        for _ in 0..3 {
            assert_eq!(cache.owner("alice").map(|u| u.id), Some(1));
        }
        // On the blocking pool the one sent reloads the due answer, which replaces the old
        // one; a loading caller that comes while it does uses the old answer.
        let got = cache
            .owner_or_load("alice".into(), || {
                let other = cache.owner_or_load("alice".into(), || load(9)).unwrap();
                assert_eq!(other.map(|u| u.id), Some(1));
                load(3)
            })
            .unwrap();
        assert_eq!(got.map(|u| u.id), Some(3));
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        // The new answer lives its own time: past the old one's expiry it is still there.
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(cache.owner("alice").map(|u| u.id), Some(3));
        // Without a reload an answer is never used past its time to live.
        cache.membership_or_load(1, 2, || Ok(no_member())).unwrap();
        std::thread::sleep(Duration::from_millis(2100));
        assert!(cache.membership(1, 2).is_none());
        assert!(cache.membership(1, 2).is_none());
    }

    #[test]
    fn a_reload_ahead_that_finds_nothing_drops_the_answer() {
        let cache = ReadCache::new(Duration::from_secs(2), false);
        cache
            .owner_or_load("alice".into(), || Ok(Some(user(1, "alice"))))
            .unwrap();
        std::thread::sleep(Duration::from_millis(1600));
        assert!(cache.owner("alice").is_none(), "sent to reload");
        // The owner was deleted by a process that could not announce it.
        let got = cache.owner_or_load("alice".into(), || Ok(None)).unwrap();
        assert!(got.is_none());
        assert!(cache.owner("alice").is_none());
    }

    #[test]
    fn blob_bytes_are_bounded() {
        let cache = ReadCache::new(Duration::from_secs(1), false);
        cache.put_blob("x", Bytes::from_static(b"abc"));
        assert_eq!(cache.blob("x").as_deref(), Some(&b"abc"[..]));
        cache.put_blob("big", Bytes::from(vec![0u8; MAX_BLOB_SIZE + 1]));
        assert!(cache.blob("big").is_none());
        let off = ReadCache::new(Duration::ZERO, false);
        off.put_blob("x", Bytes::from_static(b"abc"));
        assert!(off.blob("x").is_none());
    }
}

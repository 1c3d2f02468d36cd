//! Reads that almost every request repeats (owner by name, token, team membership, file
//! look-up, the bytes of small files), kept in memory.
//!
//! An entry is used only while the database's write generation is the one it was read at
//! (any delete, permission or account change moves it on, so this process never serves a
//! stale answer), and for at most the time-to-live, which bounds how long a change made by
//! another server instance on the same database can go unseen. Only positive answers are
//! kept: a name that does not exist is always asked again. File contents are keyed by their
//! SHA-256 and so can never be stale.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use packages_db::{AccessToken, FileLookup, MembershipRow, User};

/// Entries per map; when full the map starts over, which is cheap and keeps memory bounded.
const MAX_ENTRIES: usize = 20_000;
/// Bytes of file content kept.
const MAX_BLOB_BYTES: usize = 16 << 20;

struct Entry<V> {
    value: V,
    generation: u64,
    stored: Instant,
}

/// One map of cached reads.
struct Map<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
    /// Look-ups answered and not answered, for the metrics.
    counts: HitsMisses,
}

/// Hit and miss counts of one kind of cached read.
#[derive(Default)]
struct HitsMisses {
    hits: std::sync::atomic::AtomicU64,
    misses: std::sync::atomic::AtomicU64,
}

impl HitsMisses {
    fn count<T>(&self, found: Option<T>) -> Option<T> {
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        found
    }

    fn get(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.hits.load(Relaxed), self.misses.load(Relaxed))
    }
}

impl<K: Eq + Hash, V: Clone> Map<K, V> {
    fn new() -> Self {
        Map {
            entries: Mutex::new(HashMap::new()),
            counts: HitsMisses::default(),
        }
    }

    fn get(&self, key: &K, generation: u64, ttl: Duration) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        self.counts.count(
            entries
                .get(key)
                .filter(|e| e.generation == generation && e.stored.elapsed() < ttl)
                .map(|e| e.value.clone()),
        )
    }

    fn put(&self, key: K, value: V, generation: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                value,
                generation,
                stored: Instant::now(),
            },
        );
    }
}

/// Key of a file look-up: owner, package type and the lowercased name, version and file.
pub type FileKey = (i64, &'static str, String, String, String);

/// The cached reads of one server process.
pub struct ReadCache {
    ttl: Duration,
    owners: Map<String, Arc<User>>,
    tokens: Map<String, Arc<(AccessToken, User)>>,
    memberships: Map<(i64, i64), MembershipRow>,
    files: Map<FileKey, Arc<FileLookup>>,
    blobs: Mutex<(HashMap<String, Bytes>, usize)>,
    blob_counts: HitsMisses,
}

impl ReadCache {
    /// A cache whose entries live at most `ttl`; zero turns caching off.
    pub fn new(ttl: Duration) -> Self {
        ReadCache {
            ttl,
            owners: Map::new(),
            tokens: Map::new(),
            memberships: Map::new(),
            files: Map::new(),
            blobs: Mutex::new((HashMap::new(), 0)),
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

    /// Whether anything is cached at all.
    pub fn enabled(&self) -> bool {
        !self.ttl.is_zero()
    }

    pub fn owner(&self, lower_name: &str, generation: u64) -> Option<Arc<User>> {
        self.owners
            .get(&lower_name.to_owned(), generation, self.ttl)
    }

    pub fn put_owner(&self, user: Arc<User>, generation: u64) {
        if self.enabled() {
            self.owners.put(user.lower_name.clone(), user, generation);
        }
    }

    pub fn token(&self, hash: &str, generation: u64) -> Option<Arc<(AccessToken, User)>> {
        self.tokens.get(&hash.to_owned(), generation, self.ttl)
    }

    pub fn put_token(&self, hash: String, found: Arc<(AccessToken, User)>, generation: u64) {
        if self.enabled() {
            self.tokens.put(hash, found, generation);
        }
    }

    pub fn membership(&self, org_id: i64, user_id: i64, generation: u64) -> Option<MembershipRow> {
        self.memberships
            .get(&(org_id, user_id), generation, self.ttl)
    }

    pub fn put_membership(&self, org_id: i64, user_id: i64, m: MembershipRow, generation: u64) {
        if self.enabled() {
            self.memberships.put((org_id, user_id), m, generation);
        }
    }

    pub fn file(&self, key: &FileKey, generation: u64) -> Option<Arc<FileLookup>> {
        self.files.get(key, generation, self.ttl)
    }

    pub fn put_file(&self, key: FileKey, found: Arc<FileLookup>, generation: u64) {
        if self.enabled() && matches!(*found, FileLookup::Found { .. }) {
            self.files.put(key, found, generation);
        }
    }

    /// The content stored under `sha256`, if it is held in memory.
    pub fn blob(&self, sha256: &str) -> Option<Bytes> {
        let blobs = self.blobs.lock().unwrap_or_else(PoisonError::into_inner);
        self.blob_counts.count(blobs.0.get(sha256).cloned())
    }

    /// Keeps the content of a small file.
    pub fn put_blob(&self, sha256: &str, bytes: Bytes) {
        if !self.enabled() || bytes.len() > MAX_BLOB_BYTES / 64 {
            return;
        }
        let mut blobs = self.blobs.lock().unwrap_or_else(PoisonError::into_inner);
        if blobs.1 + bytes.len() > MAX_BLOB_BYTES {
            blobs.0.clear();
            blobs.1 = 0;
        }
        blobs.1 += bytes.len();
        if let Some(old) = blobs.0.insert(sha256.to_owned(), bytes) {
            blobs.1 -= old.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_with_the_generation_and_the_ttl() {
        let map: Map<&str, u32> = Map::new();
        map.put("a", 1, 7);
        assert_eq!(map.get(&"a", 7, Duration::from_secs(60)), Some(1));
        assert_eq!(map.get(&"a", 8, Duration::from_secs(60)), None);
        assert_eq!(map.get(&"a", 7, Duration::ZERO), None);
    }

    #[test]
    fn blob_bytes_are_bounded() {
        let cache = ReadCache::new(Duration::from_secs(1));
        cache.put_blob("x", Bytes::from_static(b"abc"));
        assert_eq!(cache.blob("x").as_deref(), Some(&b"abc"[..]));
        let big = Bytes::from(vec![0u8; MAX_BLOB_BYTES]);
        cache.put_blob("big", big);
        assert!(cache.blob("big").is_none());
        let off = ReadCache::new(Duration::ZERO);
        off.put_blob("x", Bytes::from_static(b"abc"));
        assert!(off.blob("x").is_none());
    }
}

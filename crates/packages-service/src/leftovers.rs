//! Content a failed upload added and must take away again. Removing it safely needs the
//! database (another upload of the same bytes may have recorded it meanwhile); when the
//! database cannot answer — the very outage that failed the upload — the content is kept
//! here and the server's bookkeeping job tries again until it can, instead of leaving it to
//! the sweep's grace period.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use packages_core::{BlobStore, StorageError};
use packages_db::Database;

/// Keys of content waiting to be removed.
#[derive(Debug, Default)]
pub struct Leftovers {
    pending: Mutex<HashSet<String>>,
}

impl Leftovers {
    /// Removes the content under `key` unless a row refers to it; remembers it for
    /// [`Leftovers::retry`] when that cannot be decided now. Blocking.
    pub fn discard(&self, store: &dyn BlobStore, db: &Database, key: &str) {
        let mut referenced = || {
            db.blob_key_in_use(key)
                .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))
        };
        if let Err(e) = store.remove(key, &mut referenced) {
            log::warn!("content {key} of a failed upload is kept for now: {e}");
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key.to_owned());
        }
    }

    /// Tries the waiting removals again; returns how many are still waiting. Blocking.
    pub fn retry(&self, store: &dyn BlobStore, db: &Database) -> usize {
        let keys: Vec<String> = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain()
            .collect();
        for key in &keys {
            self.discard(store, db, key);
        }
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

//! The blob store: content-addressed storage of package files, keyed by SHA-256.
//!
//! Every method blocks; callers run them on a blocking thread pool, as they do with
//! database calls. An upload goes through three steps so that no reader ever sees a key
//! without its complete content and no crash leaves a partial blob under a key:
//! [`BlobStore::begin`] gives a [`PendingBlob`] to write to, [`BlobStore::persist`] makes its
//! content readable under its key before the database row is committed, and
//! [`StoredBlob::confirm`] runs after the commit.

use std::fs::File;
use std::io;
use std::time::SystemTime;

/// Failures of a blob store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No content is stored under the key.
    #[error("blob {0} not found in storage")]
    NotFound(String),
    /// The key is not a SHA-256 hex digest.
    #[error("invalid blob key")]
    InvalidKey,
    /// The underlying storage failed.
    #[error("storage I/O: {0}")]
    Io(#[from] io::Error),
}

/// Content being written by an upload. Dropping it discards everything written.
pub trait PendingBlob: Send {
    /// Appends bytes.
    fn write_all(&mut self, data: &[u8]) -> Result<(), StorageError>;
    /// Bytes written so far.
    fn len(&self) -> u64;
    /// True when nothing has been written.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Lets the store that began this blob take its own type back in `persist`.
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send>;
}

/// Content made readable under its key, waiting for the database commit that references it.
/// Dropping it without [`StoredBlob::confirm`] leaves the keyed content for the sweep, which
/// removes it after the grace period if no row refers to it.
pub trait StoredBlob: Send {
    /// Called after the referencing row is committed: makes sure the content is still in
    /// place (a concurrent sweep may have moved it) and releases the upload's temporary copy.
    fn confirm(self: Box<Self>) -> Result<(), StorageError>;
    /// True when the store already held this content and nothing new was written.
    fn was_present(&self) -> bool;
}

/// How a blob's content is handed to a reader.
#[derive(Debug)]
pub enum BlobReader {
    /// A local file, read or sent from disk directly; its length is given.
    File(File, u64),
}

/// A content-addressed blob store.
pub trait BlobStore: Send + Sync + 'static {
    /// Starts writing new content.
    fn begin(&self) -> Result<Box<dyn PendingBlob>, StorageError>;

    /// Makes `pending` durable and readable under `sha256` (its digest, computed by the caller).
    /// Content already present under the key is kept and the pending copy discarded.
    fn persist(
        &self,
        pending: Box<dyn PendingBlob>,
        sha256: &str,
    ) -> Result<Box<dyn StoredBlob>, StorageError>;

    /// Opens the content stored under `sha256`.
    fn open(&self, sha256: &str) -> Result<BlobReader, StorageError>;

    /// True when content is stored under `sha256`.
    fn contains(&self, sha256: &str) -> Result<bool, StorageError>;

    /// Removes the content under `sha256` unless `still_referenced` (asked after the content
    /// was taken out of reach of new readers) says a row refers to it again, in which case it
    /// is put back. Returns whether the content was removed.
    fn remove(
        &self,
        sha256: &str,
        still_referenced: &mut dyn FnMut() -> Result<bool, StorageError>,
    ) -> Result<bool, StorageError>;

    /// Keys whose content was last written before `cutoff`; the sweep looks for content no
    /// row refers to among them.
    fn keys_older_than(&self, cutoff: SystemTime) -> Result<Vec<String>, StorageError>;

    /// Removes upload leftovers (from crashes) older than `cutoff`; returns how many.
    fn remove_stale_uploads(&self, cutoff: SystemTime) -> Result<usize, StorageError>;
}

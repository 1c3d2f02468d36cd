//! The blob store: where the content of package files lives, on a local disk or in an
//! object store.
//!
//! Every method blocks; callers run them on a blocking thread pool, as they do with
//! database calls. An upload goes through three steps so that no reader ever sees a key
//! without its complete content and no failure leaves partial content under a key:
//!
//! 1. [`BlobStore::begin`] gives a [`PendingBlob`] that the body is streamed into. Memory
//!    stays bounded whatever the size: a local store writes a temporary file, an object
//!    store sends parts of a multipart upload as they fill. Dropping it discards everything
//!    (the temporary file is deleted, the multipart upload aborted).
//! 2. [`BlobStore::persist`] makes the content durable and readable under a key, before the
//!    database row that refers to it is committed. The key is the store's choice: the local
//!    store names content by its SHA-256, so identical content meets under one key; an
//!    object store gives every upload a key of its own (copying an object to a name known
//!    only at the end would cost a second transfer), and the database keeps which key holds
//!    which SHA-256.
//! 3. [`StoredBlob::confirm`] runs after the commit and says whether the committed row uses
//!    this upload's content or content stored earlier; the store then removes what is not
//!    needed. A [`StoredBlob`] dropped without `confirm` (the commit failed) leaves content
//!    that the caller removes with [`BlobStore::remove`], or the sweep after the grace period.
//!
//! Resumable uploads (tus) keep their content in a pending area across requests and server
//! restarts: [`BlobStore::resumable_create`] starts one and returns the store's state for it,
//! which the caller records (in the database, beside the offset) and hands back to every later
//! call; [`BlobStore::resumable_append`] adds bytes at the recorded offset and
//! [`ResumableAppend::commit`] makes them durable and returns the new offset and state;
//! [`BlobStore::resumable_finish`] turns the whole content into a [`StoredBlob`] as `persist`
//! does, and [`BlobStore::resumable_abort`] removes it.
//!
//! Content is removed only through [`BlobStore::remove`], which asks once more whether a
//! row refers to the key after taking it out of reach, and [`BlobStore::list`] pages through
//! the keys so a sweep never holds them all, nor needs more than one query per page.

use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::time::{Duration, SystemTime};

/// Failures of a blob store.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No content is stored under the key.
    #[error("blob {0} not found in storage")]
    NotFound(String),
    /// The key is not one this store hands out.
    #[error("invalid blob key")]
    InvalidKey,
    /// The storage service cannot be reached or refuses to work now; retrying later may
    /// work. The message says what failed, without secrets.
    #[error("package storage unavailable: {0}")]
    Unavailable(String),
    /// The content is larger than this store can take in one blob.
    #[error("content too large for the package storage")]
    TooLarge,
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
/// Dropping it without [`StoredBlob::confirm`] leaves the content under its key for the
/// caller's [`BlobStore::remove`] or for the sweep, which removes it after the grace period
/// if no row refers to it.
pub trait StoredBlob: Send {
    /// The key the content is readable under; record it with the row.
    fn key(&self) -> &str;
    /// True when the store already held this content under the same key and nothing new
    /// was written (only stores that name content by its digest can tell).
    fn was_present(&self) -> bool;
    /// Called after the referencing row is committed. `used` says whether the row refers to
    /// this upload's key; when it refers to content stored earlier (a concurrent or earlier
    /// upload of the same bytes), the store removes this upload's copy. Also makes sure used
    /// content is still in place (a concurrent sweep may have moved it) and releases the
    /// upload's temporary state.
    fn confirm(self: Box<Self>, used: bool) -> Result<(), StorageError>;
}

/// Bytes being appended to a resumable upload. Dropping it without
/// [`ResumableAppend::commit`] leaves the upload as recorded before (bytes written past the
/// recorded offset are disregarded and overwritten by the next append).
pub trait ResumableAppend: Send {
    /// Appends bytes.
    fn write_all(&mut self, data: &[u8]) -> Result<(), StorageError>;
    /// Makes everything written durable; returns the new offset and the state to record.
    fn commit(self: Box<Self>) -> Result<(u64, String), StorageError>;
}

/// Reads a resumable upload's whole content once, at its completion, and returns its
/// SHA-256 (the caller computes every digest it needs in the same pass).
pub type DigestPass<'a> = &'a mut dyn FnMut(&mut dyn Read) -> Result<String, StorageError>;

/// True for the id of a resumable upload: 32 lowercase hex digits. Stores turn ids into
/// file or object names only after this check.
pub fn is_resumable_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// How a blob's content is handed to a reader.
pub enum BlobReader {
    /// A local file holding the whole content, read or sent from disk directly; the reader
    /// seeks to the range it wants. The length of the whole content is given.
    File(File, u64),
    /// A byte stream yielding exactly the requested range, of the given length.
    Stream(Box<dyn Read + Send>, u64),
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobReader::File(file, len) => f.debug_tuple("File").field(file).field(len).finish(),
            BlobReader::Stream(_, len) => f.debug_tuple("Stream").field(len).finish(),
        }
    }
}

/// What a client following a presigned URL must be sent along with the content.
#[derive(Debug, Clone)]
pub struct DirectDownload<'a> {
    /// The `Content-Disposition` header the store should answer with.
    pub content_disposition: &'a str,
    /// The `Content-Type` header the store should answer with.
    pub content_type: &'a str,
    /// How long the URL stays valid.
    pub ttl: Duration,
}

/// A stored key as listed by [`BlobStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedKey {
    pub key: String,
    /// When the content was last written.
    pub modified: SystemTime,
}

/// One page of [`BlobStore::list`].
#[derive(Debug, Clone, Default)]
pub struct KeyPage {
    /// Keys in the store's listing order.
    pub keys: Vec<ListedKey>,
    /// Where the next page starts, to pass as `after` (an opaque cursor); `None` on the
    /// last page. A page may hold fewer keys than asked for and still have a next one.
    pub next: Option<String>,
}

/// A blob store.
pub trait BlobStore: Send + Sync + 'static {
    /// Starts writing new content.
    fn begin(&self) -> Result<Box<dyn PendingBlob>, StorageError>;

    /// Makes `pending` durable and readable under a key (see [`StoredBlob::key`]); `sha256`
    /// is its digest, computed by the caller.
    fn persist(
        &self,
        pending: Box<dyn PendingBlob>,
        sha256: &str,
    ) -> Result<Box<dyn StoredBlob>, StorageError>;

    /// Opens the content stored under `key`; `range` is the part the caller will read
    /// (`None`: all of it). A [`BlobReader::File`] holds the whole content regardless.
    fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobReader, StorageError>;

    /// A short-lived URL from which a client can fetch the content directly, or `None` when
    /// this store cannot hand one out (the content is then streamed through the server).
    /// Signing needs no round trip to the store. Required (no default) so that a wrapping
    /// store cannot forget to pass it on.
    fn direct_url(
        &self,
        key: &str,
        download: &DirectDownload<'_>,
    ) -> Result<Option<String>, StorageError>;

    /// True when content is stored under `key`.
    fn contains(&self, key: &str) -> Result<bool, StorageError>;

    /// Removes the content under `key` unless `still_referenced` (asked after the content
    /// was taken out of reach of new readers where the store can do that) says a row refers
    /// to it again, in which case it is kept. Returns whether the content was removed.
    fn remove(
        &self,
        key: &str,
        still_referenced: &mut dyn FnMut() -> Result<bool, StorageError>,
    ) -> Result<bool, StorageError>;

    /// Up to `limit` keys, from the start (`after` is `None`) or from where the previous
    /// page's [`KeyPage::next`] points, with when each was written. The sweep pages through
    /// them to find content no row refers to.
    fn list(&self, after: Option<&str>, limit: usize) -> Result<KeyPage, StorageError>;

    /// Removes upload leftovers (from crashes or aborted transfers) older than `cutoff`;
    /// returns how many.
    fn remove_stale_uploads(&self, cutoff: SystemTime) -> Result<usize, StorageError>;

    /// Starts a resumable upload named `id` (32 hex digits, chosen by the caller); returns
    /// the state to record for it.
    fn resumable_create(&self, id: &str) -> Result<String, StorageError>;

    /// Starts appending to upload `id`, whose recorded offset and state are `offset` and
    /// `state`. Only one append per upload may run at a time (the caller's lease).
    fn resumable_append(
        &self,
        id: &str,
        state: &str,
        offset: u64,
    ) -> Result<Box<dyn ResumableAppend>, StorageError>;

    /// Completes upload `id` (all `len` bytes received): `digest` reads the whole content
    /// and returns its SHA-256, then the content is made readable under a key as
    /// [`BlobStore::persist`] does. On failure the upload's content may be gone; the caller
    /// aborts it.
    fn resumable_finish(
        &self,
        id: &str,
        state: &str,
        len: u64,
        digest: DigestPass<'_>,
    ) -> Result<Box<dyn StoredBlob>, StorageError>;

    /// Removes everything upload `id` left in the pending area; nothing there is fine.
    fn resumable_abort(&self, id: &str, state: &str) -> Result<(), StorageError>;

    /// Checks at start-up that the store can be used (reachable, credentials accepted,
    /// bucket present); the error names what is wrong.
    fn check(&self) -> Result<(), StorageError>;
}

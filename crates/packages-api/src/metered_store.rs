//! The blob store as the metrics see it: every operation counted by outcome.

use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use packages_core::{
    BlobReader, BlobStore, DigestPass, DirectDownload, KeyPage, PendingBlob, ResumableAppend,
    StorageError, StoredBlob,
};

use crate::metrics::Metrics;

/// Wraps a store and counts its operations in [`Metrics`].
pub struct MeteredStore {
    inner: Arc<dyn BlobStore>,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn BlobStore>, metrics: Arc<Metrics>) -> Self {
        MeteredStore { inner, metrics }
    }

    fn count<T>(
        &self,
        operation: &'static str,
        r: Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        self.metrics.blob_op(operation, r.is_ok());
        r
    }
}

impl BlobStore for MeteredStore {
    fn resumable_create(&self, id: &str) -> Result<String, StorageError> {
        self.count("resumable_create", self.inner.resumable_create(id))
    }

    fn resumable_append(
        &self,
        id: &str,
        state: &str,
        offset: u64,
    ) -> Result<Box<dyn ResumableAppend>, StorageError> {
        self.count(
            "resumable_append",
            self.inner.resumable_append(id, state, offset),
        )
    }

    fn resumable_finish(
        &self,
        id: &str,
        state: &str,
        len: u64,
        digest: DigestPass<'_>,
    ) -> Result<Box<dyn StoredBlob>, StorageError> {
        self.count(
            "resumable_finish",
            self.inner.resumable_finish(id, state, len, digest),
        )
    }

    fn resumable_abort(&self, id: &str, state: &str) -> Result<(), StorageError> {
        self.count("resumable_abort", self.inner.resumable_abort(id, state))
    }

    fn begin(&self) -> Result<Box<dyn PendingBlob>, StorageError> {
        self.count("begin", self.inner.begin())
    }

    fn persist(
        &self,
        pending: Box<dyn PendingBlob>,
        sha256: &str,
    ) -> Result<Box<dyn StoredBlob>, StorageError> {
        self.count("persist", self.inner.persist(pending, sha256))
    }

    fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobReader, StorageError> {
        self.count("open", self.inner.open(key, range))
    }

    fn direct_url(
        &self,
        key: &str,
        download: &DirectDownload<'_>,
    ) -> Result<Option<String>, StorageError> {
        self.count("direct_url", self.inner.direct_url(key, download))
    }

    fn contains(&self, sha256: &str) -> Result<bool, StorageError> {
        self.count("contains", self.inner.contains(sha256))
    }

    fn remove(
        &self,
        sha256: &str,
        still_referenced: &mut dyn FnMut() -> Result<bool, StorageError>,
    ) -> Result<bool, StorageError> {
        self.count("remove", self.inner.remove(sha256, still_referenced))
    }

    fn list(&self, after: Option<&str>, limit: usize) -> Result<KeyPage, StorageError> {
        self.count("list", self.inner.list(after, limit))
    }

    fn check(&self) -> Result<(), StorageError> {
        self.count("check", self.inner.check())
    }

    fn remove_stale_uploads(&self, cutoff: SystemTime) -> Result<usize, StorageError> {
        self.count(
            "remove_stale_uploads",
            self.inner.remove_stale_uploads(cutoff),
        )
    }
}

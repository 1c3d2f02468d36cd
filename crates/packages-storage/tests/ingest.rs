use std::fs;
use std::io::Read;
use std::sync::Arc;
use std::time::SystemTime;

mod common;

use bytes::Bytes;
use packages_core::{
    BlobReader, BlobStore, Digests, MultiHasher, PendingBlob, StorageError, StoredBlob,
};
use packages_storage::{
    digest_parallel, hash_rate_probe, start_ingest, IngestError, IngestOptions, Ingested,
    LocalBlobStore, PARALLEL_HASH_THRESHOLD,
};

fn digests_of(data: &[u8]) -> Digests {
    let mut h = MultiHasher::new();
    h.update(data);
    h.finalize()
}

fn store() -> (tempfile::TempDir, Arc<LocalBlobStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path().join("blobs")).unwrap();
    (dir, Arc::new(store))
}

/// No upload in progress: no named temporary file, and no unnamed one still open.
fn tmp_is_empty(store: &LocalBlobStore) -> bool {
    let tmp = store.tmp_dir();
    fs::read_dir(&tmp).unwrap().next().is_none() && common::unnamed_files_in(&tmp) == 0
}

/// Deterministic bytes that do not repeat with any chunk size used here.
fn body(len: usize) -> Vec<u8> {
    common::content(len, 0x9e37_79b9_7f4a_7c15)
}

async fn ingest_chunks(
    store: Arc<LocalBlobStore>,
    opts: IngestOptions,
    data: &Bytes,
    chunk_sizes: &[usize],
) -> Result<Ingested, IngestError> {
    let (mut sender, handle) = start_ingest(store, opts);
    let mut offset = 0;
    let mut sizes = chunk_sizes.iter().cycle();
    while offset < data.len() {
        let end = data.len().min(offset + sizes.next().unwrap());
        if sender.send(data.slice(offset..end)).await.is_err() {
            return handle.await;
        }
        offset = end;
    }
    sender.finish().await;
    handle.await
}

#[tokio::test]
async fn empty_body_gives_empty_digests() {
    let (_dir, store) = store();
    let (sender, handle) = start_ingest(store.clone(), IngestOptions::default());
    sender.finish().await;
    let Ingested { pending, digests } = handle.await.unwrap();
    assert_eq!(pending.len(), 0);
    assert_eq!(digests.size, 0);
    assert_eq!(digests.md5, "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(
        digests.sha256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(digests, digests_of(b""));
    drop(pending);
    assert!(tmp_is_empty(&store));
}

#[tokio::test]
async fn small_body_is_written_and_hashed() {
    let (_dir, store) = store();
    let data = Bytes::from_static(b"a small package file");
    let ingested = ingest_chunks(store.clone(), IngestOptions::default(), &data, &[3, 0, 5])
        .await
        .unwrap();
    assert_eq!(ingested.digests, digests_of(&data));
    let stored = store
        .persist(ingested.pending, &ingested.digests.sha256)
        .unwrap();
    stored.confirm(true).unwrap();
    assert!(tmp_is_empty(&store));
}

#[tokio::test]
async fn large_body_in_odd_chunks_matches_multihasher() {
    let (_dir, store) = store();
    let data = Bytes::from(body(20 << 20));
    let opts = IngestOptions {
        max_size: Some(20 << 20),
        channel_capacity: 3,
        ..IngestOptions::default()
    };
    let sizes = [1, 4093, 65_537, 1_000_003, 7, 333_333];
    let Ingested { pending, digests } = ingest_chunks(store.clone(), opts, &data, &sizes)
        .await
        .unwrap();
    assert_eq!(pending.len(), data.len() as u64);
    assert_eq!(digests, digests_of(&data));

    let stored = store.persist(pending, &digests.sha256).unwrap();
    stored.confirm(true).unwrap();
    let BlobReader::File(mut file, len) = store.open(&digests.sha256, None).unwrap() else {
        panic!("a local store opens files");
    };
    assert_eq!(len, data.len() as u64);
    let mut back = Vec::new();
    file.read_to_end(&mut back).unwrap();
    assert!(back == data);
    assert!(tmp_is_empty(&store));
}

#[tokio::test]
async fn dropped_sender_aborts_and_cleans_up() {
    for len in [1000, PARALLEL_HASH_THRESHOLD as usize + 100_000] {
        let (_dir, store) = store();
        let (mut sender, handle) = start_ingest(store.clone(), IngestOptions::default());
        sender.send(Bytes::from(body(len))).await.unwrap();
        drop(sender);
        assert!(matches!(handle.await, Err(IngestError::Aborted)));
        assert!(tmp_is_empty(&store));
    }
}

#[tokio::test]
async fn body_over_the_limit_is_too_large() {
    let limit = 6 << 20;
    for (len, chunk) in [(1001usize, 100usize), (8 << 20, 300_000)] {
        let (_dir, store) = store();
        let opts = IngestOptions {
            max_size: Some(if len < 2000 { 1000 } else { limit }),
            channel_capacity: 8,
            ..IngestOptions::default()
        };
        let data = Bytes::from(body(len));
        let (mut sender, handle) = start_ingest(store.clone(), opts);
        let mut offset = 0;
        let err = loop {
            let end = data.len().min(offset + chunk);
            assert!(offset < end, "the limit was never reported");
            if let Err(e) = sender.send(data.slice(offset..end)).await {
                break e;
            }
            offset = end;
        };
        assert!(matches!(err, IngestError::TooLarge));
        // Every later send fails at once.
        assert!(matches!(
            sender.send(Bytes::from_static(b"more")).await,
            Err(IngestError::TooLarge)
        ));
        sender.finish().await;
        assert!(matches!(handle.await, Err(IngestError::TooLarge)));
        assert!(tmp_is_empty(&store));
    }
}

#[tokio::test]
async fn body_at_the_limit_is_accepted() {
    let (_dir, store) = store();
    let data = Bytes::from(body(1000));
    let opts = IngestOptions {
        max_size: Some(1000),
        channel_capacity: 0,
        ..IngestOptions::default()
    };
    let ingested = ingest_chunks(store, opts, &data, &[999, 1]).await.unwrap();
    assert_eq!(ingested.digests, digests_of(&data));
}

/// A store whose writes fail after a few bytes.
struct FailingStore;

struct FailingPending(u64);

impl PendingBlob for FailingPending {
    fn write_all(&mut self, data: &[u8]) -> Result<(), StorageError> {
        self.0 += data.len() as u64;
        if self.0 > 10 {
            return Err(StorageError::Io(std::io::Error::other("disk full")));
        }
        Ok(())
    }

    fn len(&self) -> u64 {
        self.0
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

impl BlobStore for FailingStore {
    fn begin(&self) -> Result<Box<dyn PendingBlob>, StorageError> {
        Ok(Box::new(FailingPending(0)))
    }
    fn persist(
        &self,
        _: Box<dyn PendingBlob>,
        _: &str,
    ) -> Result<Box<dyn StoredBlob>, StorageError> {
        unimplemented!()
    }
    fn open(&self, _: &str, _: Option<std::ops::Range<u64>>) -> Result<BlobReader, StorageError> {
        unimplemented!()
    }
    fn contains(&self, _: &str) -> Result<bool, StorageError> {
        unimplemented!()
    }
    fn remove(
        &self,
        _: &str,
        _: &mut dyn FnMut() -> Result<bool, StorageError>,
    ) -> Result<bool, StorageError> {
        unimplemented!()
    }
    fn list(&self, _: Option<&str>, _: usize) -> Result<packages_core::KeyPage, StorageError> {
        unimplemented!()
    }
    fn remove_stale_uploads(&self, _: SystemTime) -> Result<usize, StorageError> {
        unimplemented!()
    }
    fn direct_url(
        &self,
        _: &str,
        _: &packages_core::DirectDownload<'_>,
    ) -> Result<Option<String>, StorageError> {
        unimplemented!()
    }
    fn check(&self) -> Result<(), StorageError> {
        unimplemented!()
    }
    fn resumable_create(&self, _: &str) -> Result<String, StorageError> {
        unimplemented!()
    }
    fn resumable_append(
        &self,
        _: &str,
        _: &str,
        _: u64,
    ) -> Result<Box<dyn packages_core::ResumableAppend>, StorageError> {
        unimplemented!()
    }
    fn resumable_finish(
        &self,
        _: &str,
        _: &str,
        _: u64,
        _: packages_core::DigestPass<'_>,
    ) -> Result<Box<dyn StoredBlob>, StorageError> {
        unimplemented!()
    }
    fn resumable_abort(&self, _: &str, _: &str) -> Result<(), StorageError> {
        unimplemented!()
    }
}

#[tokio::test]
async fn send_fails_once_the_worker_failed() {
    let (mut sender, handle) = start_ingest(Arc::new(FailingStore), IngestOptions::default());
    let mut failed = None;
    for _ in 0..10_000 {
        if let Err(e) = sender.send(Bytes::from_static(b"0123456789")).await {
            failed = Some(e);
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(matches!(failed, Some(IngestError::Stopped)));
    assert!(matches!(
        handle.await,
        Err(IngestError::Storage(StorageError::Io(_)))
    ));
}

#[test]
fn digest_parallel_matches_multihasher() {
    for len in [0, 1, 300_000, PARALLEL_HASH_THRESHOLD as usize + 1_234_567] {
        let data = body(len);
        assert_eq!(digest_parallel(&data[..]).unwrap(), digests_of(&data));
    }
}

#[test]
fn hash_rate_probe_hashes_everything() {
    let (digests, _elapsed) = hash_rate_probe(5 << 20).unwrap();
    assert_eq!(digests.size, 5 << 20);
    assert!(Digests::is_sha256_hex(&digests.sha256));
}

/// The worker runs what `wrap_worker` made of its work, on its own thread; the HTTP layer
/// relies on it to carry the request's id into the worker's log lines.
#[tokio::test]
async fn the_worker_runs_wrapped() {
    static RAN_ON: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let (_dir, store) = store();
    let opts = IngestOptions {
        wrap_worker: Some(|work| {
            Box::new(move || {
                let name = std::thread::current().name().unwrap_or("").to_owned();
                RAN_ON.lock().unwrap().push(name);
                work();
            })
        }),
        ..IngestOptions::default()
    };
    let data = Bytes::from(body(1000));
    let Ingested { digests, .. } = ingest_chunks(store, opts, &data, &[100]).await.unwrap();
    assert_eq!(digests, digests_of(&data));
    assert_eq!(*RAN_ON.lock().unwrap(), ["forge-ingest"]);
}

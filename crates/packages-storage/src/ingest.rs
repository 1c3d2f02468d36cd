//! The upload pipeline: request body chunks in, a [`PendingBlob`] and its [`Digests`] out.
//!
//! An async handler must not block on file I/O or spend milliseconds hashing, so the work
//! runs on a thread of its own fed through a bounded channel: the handler's `send` waits when
//! the worker falls behind, which keeps memory bounded whatever the body size. Each chunk is
//! the `Bytes` the HTTP layer received; it is written once and shared, never copied, with the
//! hashing threads.
//!
//! Small bodies are hashed on the worker thread itself, because spawning threads would cost
//! more than the hashing. Once a body passes [`PARALLEL_HASH_THRESHOLD`] the digest work is
//! split into lanes, one thread each, as many as the machine has cores up to one per digest
//! ([`hash_lanes`]): two on two cores, four (MD5, SHA-1, SHA-256, SHA-512 apart) from four
//! cores up, so a large upload hashes at the speed of the slowest single digest.
//!
//! ```ignore
//! let (mut sender, handle) = start_ingest(store.clone(), IngestOptions::default());
//! while let Some(chunk) = payload.next().await {
//!     if sender.send(chunk?).await.is_err() {
//!         break; // the handle says why
//!     }
//! }
//! sender.finish().await;
//! let Ingested { pending, digests } = handle.await?;
//! ```

use std::fmt;
use std::future::Future;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use packages_core::digest::{DigestLane, LaneDigests};
use packages_core::{BlobStore, Digests, PendingBlob, StorageError};
use tokio::sync::mpsc;

/// Body size past which hashing moves from the worker thread to hashing threads.
pub const PARALLEL_HASH_THRESHOLD: u64 = 4 << 20;

/// Chunks queued per hashing thread; bounds memory when hashing is slower than writing.
const HASH_QUEUE_DEPTH: usize = 4;

/// Read size of [`digest_parallel`], and chunk size of [`hash_rate_probe`].
const READ_CHUNK: usize = 256 << 10;

/// Why an upload did not produce a pending blob.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is larger than [`IngestOptions::max_size`].
    #[error("upload exceeds the size limit")]
    TooLarge,
    /// The sender was dropped without [`IngestSender::finish`]: the body did not arrive whole.
    #[error("upload ended before the end of its body")]
    Aborted,
    /// Returned by [`IngestSender::send`] when the worker has already ended with an error;
    /// the [`IngestHandle`] gives that error.
    #[error("upload worker has stopped")]
    Stopped,
    /// The worker or a hashing thread could not run or panicked.
    #[error("upload worker failed: {0}")]
    Failed(String),
    /// Writing the blob failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Wraps the worker's work on the calling thread before it moves to the worker's own; the
/// HTTP layer uses it to carry the request's logging context along.
pub type WorkerWrap = fn(Box<dyn FnOnce() + Send>) -> Box<dyn FnOnce() + Send>;

/// Settings of one upload.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Largest accepted body in bytes; `None` for no limit.
    pub max_size: Option<u64>,
    /// Chunks buffered between the handler and the worker (at least 1).
    pub channel_capacity: usize,
    /// Applied to the worker's work before it is started.
    pub wrap_worker: Option<WorkerWrap>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            max_size: None,
            channel_capacity: 8,
            wrap_worker: None,
        }
    }
}

/// A complete upload: its content, not yet persisted, and its digests.
pub struct Ingested {
    /// The written content; pass it to [`BlobStore::persist`] with `digests.sha256`.
    /// Dropping it discards the upload.
    pub pending: Box<dyn PendingBlob>,
    pub digests: Digests,
}

impl fmt::Debug for Ingested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ingested")
            .field("len", &self.pending.len())
            .field("digests", &self.digests)
            .finish()
    }
}

enum Message {
    Chunk(Bytes),
    End,
}

/// The handler's end of an upload: feeds body chunks to the worker.
///
/// Dropping it without [`IngestSender::finish`] aborts the upload and discards what was
/// written.
pub struct IngestSender {
    tx: mpsc::Sender<Message>,
    sent: u64,
    max_size: Option<u64>,
}

impl IngestSender {
    /// Passes the next body chunk to the worker, waiting while the worker is behind.
    ///
    /// Fails with [`IngestError::TooLarge`] as soon as the body exceeds the limit, and with
    /// [`IngestError::Stopped`] once the worker has ended with another error (await the
    /// [`IngestHandle`] for it); the handler should stop reading the body then.
    pub async fn send(&mut self, chunk: Bytes) -> Result<(), IngestError> {
        if over_limit(self.sent, self.max_size) {
            return Err(IngestError::TooLarge);
        }
        if chunk.is_empty() {
            return Ok(());
        }
        self.sent = self.sent.saturating_add(chunk.len() as u64);
        // The chunk that crosses the limit still goes to the worker, which then stops with
        // the same error and discards the upload.
        let delivered = self.tx.send(Message::Chunk(chunk)).await;
        if over_limit(self.sent, self.max_size) {
            return Err(IngestError::TooLarge);
        }
        delivered.map_err(|_| IngestError::Stopped)
    }

    /// Marks the end of the body; the [`IngestHandle`] then completes with the result.
    pub async fn finish(self) {
        // A worker that already stopped reports its error through the handle.
        let _ = self.tx.send(Message::End).await;
    }
}

/// The result of an upload, awaited after [`IngestSender::finish`] (or after `send` failed).
///
/// Dropping it does not stop the worker: it still ends with the body, or when the sender is
/// dropped, and cleans up after itself.
pub struct IngestHandle {
    result: tokio::sync::oneshot::Receiver<Result<Ingested, IngestError>>,
}

impl Future for IngestHandle {
    type Output = Result<Ingested, IngestError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.result).poll(cx).map(|received| {
            received.unwrap_or_else(|_| Err(IngestError::Failed("upload worker stopped".into())))
        })
    }
}

/// Starts an upload into `store`: returns the sender the handler feeds with body chunks and
/// the handle that yields the pending blob and its digests.
///
/// The worker is a thread of its own, not one of the runtime's blocking pool: it waits for
/// the client as long as the body takes to arrive, and a pool that database calls share
/// must not fill up with uploads of slow clients.
pub fn start_ingest(
    store: Arc<dyn BlobStore>,
    opts: IngestOptions,
) -> (IngestSender, IngestHandle) {
    let (tx, rx) = mpsc::channel(opts.channel_capacity.max(1));
    let max_size = opts.max_size;
    let (result_tx, result) = tokio::sync::oneshot::channel();
    let work: Box<dyn FnOnce() + Send> = Box::new(move || {
        let _ = result_tx.send(ingest(store.as_ref(), rx, max_size));
    });
    let work = match opts.wrap_worker {
        Some(wrap) => wrap(work),
        None => work,
    };
    let spawned = thread::Builder::new()
        .name("forge-ingest".to_owned())
        .spawn(work);
    if let Err(e) = spawned {
        // The handle reports the failure: its sender is gone with the closure.
        log::error!("cannot start an upload worker: {e}");
    }
    let sender = IngestSender {
        tx,
        sent: 0,
        max_size,
    };
    (sender, IngestHandle { result })
}

fn ingest(
    store: &dyn BlobStore,
    mut rx: mpsc::Receiver<Message>,
    max_size: Option<u64>,
) -> Result<Ingested, IngestError> {
    let mut pending = store.begin()?;
    let digests = pump(
        || match rx.blocking_recv() {
            Some(Message::Chunk(chunk)) => Ok(Some(chunk)),
            Some(Message::End) => Ok(None),
            None => Err(IngestError::Aborted),
        },
        |data| Ok(pending.write_all(data)?),
        max_size,
    )?;
    Ok(Ingested { pending, digests })
}

/// How many threads a large upload hashes on: one per core, at most one per digest, at
/// least two (the split that balances best on two cores, and no worse on one).
pub fn hash_lanes() -> usize {
    thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4))
}

/// Hashes every chunk `next` yields and hands it to `sink`, stopping at the first error.
fn pump<N, S>(mut next: N, mut sink: S, max_size: Option<u64>) -> Result<Digests, IngestError>
where
    N: FnMut() -> Result<Option<Bytes>, IngestError>,
    S: FnMut(&[u8]) -> Result<(), IngestError>,
{
    let mut lanes = DigestLane::split(hash_lanes());
    let mut size = 0u64;
    while size <= PARALLEL_HASH_THRESHOLD {
        let Some(chunk) = next()? else {
            return join_lanes(lanes.into_iter().map(DigestLane::finalize).collect(), size);
        };
        size = grow(size, &chunk, max_size)?;
        for lane in &mut lanes {
            lane.update(&chunk);
        }
        sink(&chunk)?;
    }
    pump_parallel(&mut next, &mut sink, max_size, size, lanes)
}

fn pump_parallel<N, S>(
    next: &mut N,
    sink: &mut S,
    max_size: Option<u64>,
    size: u64,
    lanes: Vec<DigestLane>,
) -> Result<Digests, IngestError>
where
    N: FnMut() -> Result<Option<Bytes>, IngestError>,
    S: FnMut(&[u8]) -> Result<(), IngestError>,
{
    thread::scope(|scope| {
        let mut senders = Vec::with_capacity(lanes.len());
        let mut threads = Vec::with_capacity(lanes.len());
        for lane in lanes {
            let (tx, rx) = sync_channel(HASH_QUEUE_DEPTH);
            let spawned = thread::Builder::new()
                .name("ingest-hash".into())
                .spawn_scoped(scope, move || hash_all(lane, rx));
            match spawned {
                Ok(handle) => {
                    senders.push(tx);
                    threads.push(handle);
                }
                // Dropping the senders ends the threads already started before the scope
                // closes.
                Err(e) => {
                    return Err(IngestError::Failed(format!(
                        "cannot start hashing thread: {e}"
                    )))
                }
            }
        }
        let fed = feed(next, sink, max_size, size, &senders);
        drop(senders);
        let done: Result<Vec<LaneDigests>, _> = threads.into_iter().map(|t| t.join()).collect();
        let size = fed?;
        match done {
            Ok(lanes) => join_lanes(lanes, size),
            Err(_) => Err(IngestError::Failed("a hashing thread panicked".into())),
        }
    })
}

fn feed<N, S>(
    next: &mut N,
    sink: &mut S,
    max_size: Option<u64>,
    mut size: u64,
    lanes: &[SyncSender<Bytes>],
) -> Result<u64, IngestError>
where
    N: FnMut() -> Result<Option<Bytes>, IngestError>,
    S: FnMut(&[u8]) -> Result<(), IngestError>,
{
    let hasher_gone = |_| IngestError::Failed("a hashing thread stopped".into());
    while let Some(chunk) = next()? {
        size = grow(size, &chunk, max_size)?;
        // Each lane gets the same buffer (a reference count), never a copy.
        for lane in lanes {
            lane.send(chunk.clone()).map_err(hasher_gone)?;
        }
        sink(&chunk)?;
    }
    Ok(size)
}

fn hash_all(mut lane: DigestLane, rx: Receiver<Bytes>) -> LaneDigests {
    for chunk in rx {
        lane.update(&chunk);
    }
    lane.finalize()
}

fn join_lanes(lanes: Vec<LaneDigests>, size: u64) -> Result<Digests, IngestError> {
    LaneDigests::join(lanes, size)
        .ok_or_else(|| IngestError::Failed("digest lanes do not add up".into()))
}

fn over_limit(size: u64, max_size: Option<u64>) -> bool {
    max_size.is_some_and(|max| size > max)
}

fn grow(size: u64, chunk: &[u8], max_size: Option<u64>) -> Result<u64, IngestError> {
    let size = size.saturating_add(chunk.len() as u64);
    if over_limit(size, max_size) {
        return Err(IngestError::TooLarge);
    }
    Ok(size)
}

/// Hashes every chunk `next` yields (the four digests, on [`hash_lanes`] threads once the
/// content is large, as an upload does) while handing it to `sink`; stops at the first error.
pub fn hash_through<N, S>(next: N, sink: S) -> Result<Digests, IngestError>
where
    N: FnMut() -> Result<Option<Bytes>, IngestError>,
    S: FnMut(&[u8]) -> Result<(), IngestError>,
{
    pump(next, sink, None)
}

/// Computes the four digests of everything `reader` yields, with the same code and threads
/// as an upload.
pub fn digest_parallel(mut reader: impl Read) -> io::Result<Digests> {
    let next = || loop {
        let mut buf = vec![0u8; READ_CHUNK];
        match reader.read(&mut buf) {
            Ok(0) => return Ok(None),
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(Bytes::from(buf)));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(IngestError::Storage(e.into())),
        }
    };
    pump(next, |_| Ok(()), None).map_err(|e| match e {
        IngestError::Storage(StorageError::Io(e)) => e,
        other => io::Error::other(other),
    })
}

/// Hashes `bytes` bytes of generated data from memory, in upload-sized chunks, and returns
/// the digests with the time the hashing took: the upload's hashing rate on this machine.
pub fn hash_rate_probe(bytes: usize) -> Result<(Digests, Duration), IngestError> {
    let data = Bytes::from(
        (0..bytes)
            .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 8) as u8)
            .collect::<Vec<u8>>(),
    );
    let mut offset = 0;
    let start = Instant::now();
    let digests = pump(
        || {
            if offset >= data.len() {
                return Ok(None);
            }
            let end = data.len().min(offset + READ_CHUNK);
            let chunk = data.slice(offset..end);
            offset = end;
            Ok(Some(chunk))
        },
        |_| Ok(()),
        None,
    )?;
    Ok((digests, start.elapsed()))
}

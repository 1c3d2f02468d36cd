//! Uploads that arrive in several requests (tus for generic files, chunked blob uploads of
//! the container registry): appending one request's body to an upload's content in the blob
//! store's pending area, under the upload's lease, from any server instance.
//!
//! A request that writes first takes the upload's lease: a compare-and-set on its row that
//! succeeds only while nobody else holds an unexpired lease (and only at the offset the
//! request names), so two requests never write to one upload at once, whichever instances
//! serve them. The body goes through a bounded channel to a thread of its own that writes
//! it; what arrived before a cut is kept and recorded unless a [`ChunkCheck`] says the chunk
//! counts only whole.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};
use packages_core::clock::now_ms;
use packages_db::{Lease, ResumableUpload};
use packages_storage::ingest::{hash_through, IngestError};
use tokio::sync::{mpsc, oneshot};

use crate::blocking;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub const PAST_LENGTH: &str = "the chunk goes past the upload's length";
pub const BUSY: &str = "another request is writing to this upload; try again shortly";
pub const WRONG_OFFSET: &str = "the chunk does not start at the upload's offset";
const LOST: &str = "the upload was taken over by another request";
/// Shortest lease; a lease also lasts three idle timeouts, so a request whose body keeps
/// arriving always renews it in time.
const MIN_LEASE: Duration = Duration::from_secs(60);
/// Body chunks queued for the writer thread: one keeps the socket and the disk both busy
/// (measured against two and eight), and memory per upload small when many run at once.
const QUEUE: usize = 1;

fn lease_len(app: &AppState) -> Duration {
    MIN_LEASE.max(app.settings.idle_timeout * 3)
}

/// Now and the end of a lease taken now, in unix milliseconds.
pub fn lease_window(app: &AppState) -> (i64, i64) {
    let now = now_ms();
    (now, now + lease_len(app).as_millis() as i64)
}

/// 32 random hex digits: an upload's id, or a lease token.
pub fn new_id() -> ApiResult<String> {
    packages_service::resumable::new_id().map_err(ApiError::internal)
}

/// Takes the lease of upload `id` (at `offset`, when given) for a new token. Blocking.
/// `missing` is the answer when the upload does not exist.
pub fn take_lease(
    app: &AppState,
    id: &str,
    offset: Option<i64>,
    missing: ApiError,
) -> ApiResult<(ResumableUpload, String)> {
    let token = new_id()?;
    let (now, until) = lease_window(app);
    match app
        .db
        .take_resumable_lease(id, offset, &token, now, until)?
    {
        Lease::Taken(upload) => Ok((*upload, token)),
        Lease::Missing => Err(missing),
        Lease::Offset(_) => Err(ApiError::Conflict(WRONG_OFFSET)),
        Lease::Busy => Err(ApiError::Locked(BUSY)),
    }
}

/// Removes an upload whose lease `token` holds: its content, then its row (a row left by a
/// failure here is found again by the expiry sweep). Blocking.
pub fn remove(app: &AppState, upload: &ResumableUpload, token: &str) -> ApiResult<()> {
    app.store.resumable_abort(&upload.id, &upload.store_state)?;
    app.db.delete_resumable(&upload.id, token)?;
    Ok(())
}

/// A check over one request's chunk (a client's checksum): the chunk counts only whole and
/// passing it; otherwise it is discarded and the offset stays.
pub trait ChunkCheck: Send {
    fn update(&mut self, data: &[u8]);
    fn verify(self: Box<Self>) -> ApiResult<()>;
}

/// What to do, with the lease still held, when an append completes the upload
/// (`upload_offset` has reached `upload_length`); it ends the upload either way.
pub type OnComplete = Box<dyn FnOnce(&AppState, &ResumableUpload, &str) -> ApiResult<()> + Send>;

enum Message {
    Chunk(Bytes),
    End,
}

/// What an append does besides writing.
pub struct AppendOptions {
    /// Checks the chunk before it counts.
    pub check: Option<Box<dyn ChunkCheck>>,
    /// Runs when the append completes the upload.
    pub on_complete: Option<OnComplete>,
    /// The answer when the upload does not exist.
    pub missing: ApiError,
    /// An append from offset 0 hashes the content as it writes and records the digests in
    /// the row's `metadata` (see [`recorded_digests`]); only for formats that keep nothing
    /// else there.
    pub record_digests: bool,
}

/// Appends `body` to `upload` at `offset`; returns the new offset. When the upload is then
/// complete, `on_complete` runs before this returns.
pub async fn append<S>(
    app: Arc<AppState>,
    upload: ResumableUpload,
    offset: u64,
    options: AppendOptions,
    mut body: S,
) -> ApiResult<u64>
where
    S: Stream<Item = ApiResult<Bytes>> + Unpin,
{
    let (leased, token) = {
        let app = app.clone();
        let id = upload.id.clone();
        let missing = options.missing;
        blocking::run(move || take_lease(&app, &id, Some(offset as i64), missing)).await?
    };
    let (tx, rx) = mpsc::channel(QUEUE);
    let (done_tx, done_rx) = oneshot::channel();
    let worker = Writer {
        guard: LeaseGuard {
            app,
            id: leased.id.clone(),
            token,
            held: true,
        },
        upload: leased,
        check: options.check,
        on_complete: options.on_complete,
        record_digests: options.record_digests,
    };
    std::thread::Builder::new()
        .name("upload-append".into())
        .spawn(crate::request::carry(move || {
            let _ = done_tx.send(worker.run(rx));
        }))
        .map_err(ApiError::internal)?;
    let mut cut = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => {
                if tx.send(Message::Chunk(bytes)).await.is_err() {
                    // The writer stopped; its result says why.
                    break;
                }
            }
            Err(e) => {
                cut = Some(e);
                break;
            }
        }
    }
    if cut.is_none() {
        let _ = tx.send(Message::End).await;
    }
    drop(tx);
    let written = done_rx
        .await
        .map_err(|_| ApiError::internal("the upload writer stopped without an answer"))?;
    match cut {
        // What arrived is kept (the result says whether it was); the request still failed.
        Some(e) => {
            written?;
            Err(e)
        }
        None => written,
    }
}

/// Holds an upload's lease and gives it back when dropped, whatever happened.
pub struct LeaseGuard {
    pub app: Arc<AppState>,
    pub id: String,
    pub token: String,
    /// False once the lease went with the row (or was handed back another way).
    pub held: bool,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if self.held {
            if let Err(e) = self.app.db.release_resumable_lease(&self.id, &self.token) {
                log::warn!("could not release an upload's lease (it expires by itself): {e}");
            }
        }
    }
}

/// The thread that writes one request's bytes.
struct Writer {
    guard: LeaseGuard,
    upload: ResumableUpload,
    check: Option<Box<dyn ChunkCheck>>,
    on_complete: Option<OnComplete>,
    record_digests: bool,
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Message>) -> ApiResult<u64> {
        let app = self.guard.app.clone();
        let offset = self.upload.upload_offset as u64;
        let remaining = (self.upload.upload_length as u64).saturating_sub(offset);
        let mut writer =
            app.store
                .resumable_append(&self.upload.id, &self.upload.store_state, offset)?;
        let renew_every = lease_len(&app) / 3;
        let mut renewed = Instant::now();
        let mut written = 0u64;
        let mut ended = false;
        // Why the sink stopped, when it was not the store.
        let mut refused: Option<ApiError> = None;
        let hashed = {
            let (id, token) = (self.upload.id.clone(), self.guard.token.clone());
            let check = &mut self.check;
            let next = || -> Result<Option<Bytes>, IngestError> {
                Ok(match rx.blocking_recv() {
                    Some(Message::Chunk(bytes)) => Some(bytes),
                    Some(Message::End) => {
                        ended = true;
                        None
                    }
                    // The body was cut: what arrived is kept.
                    None => None,
                })
            };
            let sink = |bytes: &[u8]| -> Result<(), IngestError> {
                if written + bytes.len() as u64 > remaining {
                    // Dropping the writer discards the chunk; the offset stays.
                    refused = Some(ApiError::PayloadTooLarge(PAST_LENGTH));
                    return Err(IngestError::TooLarge);
                }
                writer.write_all(bytes)?;
                if let Some(check) = check {
                    check.update(bytes);
                }
                written += bytes.len() as u64;
                if renewed.elapsed() > renew_every {
                    let until = now_ms() + lease_len(&app).as_millis() as i64;
                    let renewed_lease = app
                        .db
                        .renew_resumable_lease(&id, &token, until)
                        .map_err(|e| IngestError::Failed(e.to_string()))?;
                    if !renewed_lease {
                        refused = Some(ApiError::Conflict(LOST));
                        return Err(IngestError::Failed(LOST.into()));
                    }
                    renewed = Instant::now();
                }
                Ok(())
            };
            // Content written from its first byte is hashed on the way when the format asks,
            // so completing it needs no second pass.
            if self.record_digests && offset == 0 {
                hash_through(next, sink).map(Some)
            } else {
                copy(next, sink).map(|()| None)
            }
        };
        let digests = match hashed {
            Ok(digests) => digests,
            Err(e) => {
                return Err(refused.unwrap_or_else(|| match e {
                    IngestError::Storage(e) => e.into(),
                    other => ApiError::internal(other),
                }))
            }
        };
        if let Some(check) = self.check.take() {
            if !ended {
                return Err(ApiError::IncompleteBody);
            }
            check.verify()?;
        }
        let (new_offset, store_state) = writer.commit()?;
        let upload = &self.upload;
        if let Some(digests) = digests {
            let recorded = RecordedDigests {
                at: new_offset,
                digests,
            };
            let text = serde_json::to_string(&recorded).map_err(ApiError::internal)?;
            if !app
                .db
                .set_resumable_metadata(&upload.id, &self.guard.token, &text)?
            {
                return Err(ApiError::Conflict(LOST));
            }
        }
        let complete = new_offset == upload.upload_length as u64;
        if !app.db.advance_resumable(
            &upload.id,
            &self.guard.token,
            new_offset as i64,
            &store_state,
            !complete,
        )? {
            return Err(ApiError::Conflict(LOST));
        }
        if !complete {
            self.guard.held = false;
            return Ok(new_offset);
        }
        self.upload.upload_offset = new_offset as i64;
        self.upload.store_state = store_state;
        if let Some(on_complete) = self.on_complete.take() {
            on_complete(&app, &self.upload, &self.guard.token)?;
            // The upload is over: the row is gone with the lease.
            self.guard.held = false;
        }
        Ok(new_offset)
    }
}

/// Hands every chunk `next` yields to `sink`.
fn copy<N, S>(mut next: N, mut sink: S) -> Result<(), IngestError>
where
    N: FnMut() -> Result<Option<Bytes>, IngestError>,
    S: FnMut(&[u8]) -> Result<(), IngestError>,
{
    while let Some(chunk) = next()? {
        sink(&chunk)?;
    }
    Ok(())
}

/// The digests of an upload's content, recorded in its row's metadata by an append that
/// wrote it from the first byte (see [`append`]'s `record_digests`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct RecordedDigests {
    /// The offset the digests are of.
    at: u64,
    digests: packages_core::Digests,
}

/// The digests of the whole content of `upload`, when an append recorded them at its
/// current offset (a later append from another offset makes them stale).
pub fn recorded_digests(upload: &ResumableUpload) -> Option<packages_core::Digests> {
    let recorded: RecordedDigests = serde_json::from_str(&upload.metadata).ok()?;
    (recorded.at == upload.upload_offset as u64).then_some(recorded.digests)
}

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
/// Body chunks queued for the writer thread.
const QUEUE: usize = 8;

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

/// Appends `body` to `upload` at `offset`; returns the new offset. When the upload is then
/// complete, `on_complete` runs before this returns.
pub async fn append<S>(
    app: Arc<AppState>,
    upload: ResumableUpload,
    offset: u64,
    check: Option<Box<dyn ChunkCheck>>,
    on_complete: Option<OnComplete>,
    missing: ApiError,
    mut body: S,
) -> ApiResult<u64>
where
    S: Stream<Item = ApiResult<Bytes>> + Unpin,
{
    let (leased, token) = {
        let app = app.clone();
        let id = upload.id.clone();
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
        check,
        on_complete,
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
}

impl Writer {
    fn run(mut self, mut rx: mpsc::Receiver<Message>) -> ApiResult<u64> {
        let app = self.guard.app.clone();
        let upload = &self.upload;
        let offset = upload.upload_offset as u64;
        let remaining = (upload.upload_length as u64).saturating_sub(offset);
        let mut writer = app
            .store
            .resumable_append(&upload.id, &upload.store_state, offset)?;
        let renew_every = lease_len(&app) / 3;
        let mut renewed = Instant::now();
        let mut written = 0u64;
        let mut ended = false;
        while let Some(message) = rx.blocking_recv() {
            let bytes = match message {
                Message::Chunk(bytes) => bytes,
                Message::End => {
                    ended = true;
                    break;
                }
            };
            if written + bytes.len() as u64 > remaining {
                // Dropping the writer discards the chunk; the offset stays.
                return Err(ApiError::PayloadTooLarge(PAST_LENGTH));
            }
            writer.write_all(&bytes)?;
            if let Some(check) = &mut self.check {
                check.update(&bytes);
            }
            written += bytes.len() as u64;
            if renewed.elapsed() > renew_every {
                let until = now_ms() + lease_len(&app).as_millis() as i64;
                if !app
                    .db
                    .renew_resumable_lease(&upload.id, &self.guard.token, until)?
                {
                    return Err(ApiError::Conflict(LOST));
                }
                renewed = Instant::now();
            }
        }
        if let Some(check) = self.check.take() {
            if !ended {
                return Err(ApiError::IncompleteBody);
            }
            check.verify()?;
        }
        let (new_offset, store_state) = writer.commit()?;
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

//! Appending to a resumable upload (`PATCH`, and the body of a creation), and publishing the
//! file when the last byte arrives.
//!
//! The request takes the upload's lease at the offset the client names (409 at another
//! offset, 423 while another request holds it). The body goes through a bounded channel to
//! a thread of its own that writes it to the blob store's pending area; without a checksum,
//! what arrived before a cut is kept and recorded, which is what lets the client resume.
//! With `Upload-Checksum` the chunk counts only whole and with that checksum; otherwise it
//! is discarded and the offset stays.

use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};
use packages_core::{PackageType, StorageError};
use packages_db::{FileDetails, Lease, ResumableUpload};
use tokio::sync::{mpsc, oneshot};

use super::headers::Checksum;
use super::{new_id, remove, App, NOT_FOUND};
use packages_api::blocking;
use packages_api::error::{ApiError, ApiResult};
use packages_api::state::AppState;
use packages_api::upload::{record_stored, UploadPlan};
use packages_api::write_mode::WriteMode;
use packages_core::clock::now_ms;

pub const PAST_LENGTH: &str = "the chunk goes past Upload-Length";
pub const BUSY: &str = "another request is writing to this upload; try again shortly";
const WRONG_OFFSET: &str = "Upload-Offset is not the upload's offset; ask with HEAD";
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

enum Message {
    Chunk(Bytes),
    End,
}

/// Appends `body` to `upload` at `offset`; returns the new offset. When the upload is then
/// complete, its file is published before this returns.
pub async fn append<S>(
    app: App,
    upload: ResumableUpload,
    offset: u64,
    checksum: Option<Checksum>,
    mut body: S,
) -> ApiResult<u64>
where
    S: Stream<Item = ApiResult<Bytes>> + Unpin,
{
    let token = new_id()?;
    let leased = {
        let app = app.clone();
        let token = token.clone();
        let id = upload.id.clone();
        blocking::run(move || {
            let (now, until) = lease_window(&app);
            match app
                .db
                .take_resumable_lease(&id, Some(offset as i64), &token, now, until)?
            {
                Lease::Taken(upload) => Ok(*upload),
                Lease::Missing => Err(ApiError::NotFound(NOT_FOUND)),
                Lease::Offset(_) => Err(ApiError::Conflict(WRONG_OFFSET)),
                Lease::Busy => Err(ApiError::Locked(BUSY)),
            }
        })
        .await?
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
        checksum,
    };
    std::thread::Builder::new()
        .name("tus-append".into())
        .spawn(packages_api::request::carry(move || {
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
struct LeaseGuard {
    app: App,
    id: String,
    token: String,
    held: bool,
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
    checksum: Option<Checksum>,
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
        let mut hasher = self.checksum.as_ref().map(Checksum::hasher);
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
            if let Some(h) = &mut hasher {
                h.update(&bytes);
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
        if let (Some(checksum), Some(hasher)) = (&self.checksum, hasher) {
            if !ended {
                return Err(ApiError::IncompleteBody);
            }
            if !checksum.matches(hasher) {
                return Err(ApiError::ChecksumMismatch);
            }
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
        publish(&app, &self.upload, &self.guard.token)?;
        // The row is gone with the lease.
        self.guard.held = false;
        Ok(new_offset)
    }
}

/// Publishes a complete upload whose lease `token` holds, exactly as a `PUT` of the same
/// content would: digests in one streaming pass over the stored content, the same rows, 409
/// when the file appeared meanwhile. The upload is over afterwards, whatever the outcome.
fn publish(app: &AppState, upload: &ResumableUpload, token: &str) -> ApiResult<()> {
    let mut digests = None;
    let finished = app.store.resumable_finish(
        &upload.id,
        &upload.store_state,
        upload.upload_length as u64,
        &mut |reader| {
            let d = packages_storage::ingest::digest_parallel(reader).map_err(StorageError::Io)?;
            let sha256 = d.sha256.clone();
            digests = Some(d);
            Ok(sha256)
        },
    );
    let (stored, digests) = match (finished, digests) {
        (Ok(stored), Some(digests)) => (stored, digests),
        (Err(e), _) => {
            if let Err(r) = remove(app, upload, token) {
                log::warn!("could not remove a failed upload: {r}");
            }
            return Err(e.into());
        }
        (Ok(_), None) => return Err(ApiError::internal("completed without digests")),
    };
    if let Err(e) = app.db.delete_resumable(&upload.id, token) {
        // The content is in place; a row left behind only expires.
        log::warn!("could not delete a completed upload's row: {e}");
    }
    let plan = UploadPlan {
        owner_id: upload.owner_id,
        creator_id: upload.creator_id,
        exempt_from_limits: upload.exempt_from_limits,
        package_type: PackageType::Generic,
        details: FileDetails::plain(&upload.package_name),
        name: upload.package_name.clone(),
        version: upload.package_version.clone(),
        file_name: upload.file_name.clone(),
        body_limit: None,
        claimed: Vec::new(),
        mode: WriteMode::Create,
    };
    record_stored(app, plan, stored, digests).map(drop)
}

//! The format-independent part of an upload: who may upload, limits, streaming the body into
//! the blob store and recording the file, with nothing left behind when any step fails.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use forge_auth::Credentials;
use futures_util::{Stream, StreamExt};
use packages_core::digest_header::ClaimedDigest;
use packages_core::{AccessMode, Digests, MultiHasher, PackageType};
use packages_db::{FileDetails, NewUpload, UploadLimits};
use packages_storage::ingest::{start_ingest, IngestError, IngestOptions, Ingested};

use crate::auth::authenticate_with;
use crate::blocking;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::write_mode::WriteMode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use packages_service::access::authorize_owner_with;
use packages_service::reads::Reads;

/// Who uploads into which owner, once credentials and permission are checked.
#[derive(Debug, Clone, Copy)]
pub struct Uploader {
    pub owner_id: i64,
    pub creator_id: i64,
    /// Site admins are not held to the package limits.
    pub is_admin: bool,
}

/// Authenticates and checks write access to the owner's packages; anonymous callers get a
/// 401. Through `reads`, so it may run from cached reads.
pub fn authorize_upload(
    reads: &Reads<'_>,
    credentials: Option<Credentials>,
    owner: &str,
) -> ApiResult<Uploader> {
    let auth = authenticate_with(reads, credentials)?;
    let access = authorize_owner_with(reads, &auth, owner, AccessMode::Write)?;
    let doer = auth
        .doer
        .ok_or(ApiError::Unauthorized("sign in to upload packages"))?;
    Ok(Uploader {
        owner_id: access.owner.id,
        creator_id: doer.id,
        is_admin: doer.is_admin,
    })
}

/// Who uploads and the limit on the content's size, for a format whose request body is more
/// than the file (a form, a JSON document), so only the file is measured; refused at once when
/// the owner is over its quota. Blocking.
pub fn prepare_upload(
    state: &AppState,
    credentials: Option<Credentials>,
    owner: &str,
    package_type: PackageType,
) -> ApiResult<(Uploader, Option<BodyLimit>)> {
    let uploader = authorize_upload(&Reads::blocking(state), credentials, owner)?;
    let limit = limit_errors::body_limit(
        state,
        package_type,
        uploader.owner_id,
        uploader.is_admin,
        None,
    )?;
    Ok((uploader, limit))
}

/// The announced body size, if any.
pub fn content_length(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    headers
        .get(header::CONTENT_LENGTH)
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::BadRequest("invalid Content-Length".to_owned()))
        })
        .transpose()
}

/// What an upload will create, decided before its body is read.
#[derive(Debug, Clone)]
pub struct UploadPlan {
    pub owner_id: i64,
    pub creator_id: i64,
    /// Site admins are not held to the package limits.
    pub exempt_from_limits: bool,
    pub package_type: PackageType,
    pub name: String,
    pub version: String,
    pub file_name: String,
    /// What the format stores of its own with the file.
    pub details: FileDetails,
    /// Refuse the body once it grows past this; the database checks the limits again when
    /// the file is recorded, which settles concurrent uploads by the same owner.
    pub body_limit: Option<BodyLimit>,
    /// Digests the client sent with the body; the content must have them all.
    pub claimed: Vec<ClaimedDigest>,
    /// What to do when the file exists.
    pub mode: WriteMode,
}

/// What an upload stored.
#[derive(Debug, Clone)]
pub struct Stored {
    pub digests: Digests,
    /// An existing file got the new content.
    pub replaced: bool,
}

pub use packages_service::limits::{self as limit_errors, BodyLimit};

/// Streams a request body into a pending blob while hashing it. The body is refused as soon
/// as it grows past `limit`. If the stream fails or ends early the pending blob is
/// discarded by the ingest worker.
pub async fn receive_body<S>(
    state: &AppState,
    mut body: S,
    limit: Option<BodyLimit>,
) -> ApiResult<Ingested>
where
    S: Stream<Item = ApiResult<Bytes>> + Unpin,
{
    let (mut sender, worker) = start_ingest(
        state.store.clone(),
        IngestOptions {
            max_size: limit.map(|l| l.max),
            // Log lines the worker writes name the request.
            wrap_worker: Some(|work| Box::new(crate::request::carry(work))),
            ..IngestOptions::default()
        },
    );
    let mut body_error = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => {
                if sender.send(bytes).await.is_err() {
                    // The worker stopped; its result says why.
                    break;
                }
            }
            Err(e) => {
                body_error = Some(e);
                break;
            }
        }
    }
    if let Some(e) = body_error {
        drop(sender);
        let _ = worker.await;
        return Err(e);
    }
    sender.finish().await;
    match worker.await {
        Ok(ingested) => Ok(ingested),
        Err(IngestError::TooLarge) => Err(ApiError::Forbidden(
            limit.map_or(limit_errors::TYPE_SIZE, |l| l.message),
        )),
        Err(IngestError::Aborted) => Err(ApiError::IncompleteBody),
        Err(IngestError::Storage(e)) => Err(e.into()),
        Err(other) => Err(ApiError::internal(other)),
    }
}

/// Makes the content durable, then records the file. If recording fails, content this
/// upload added is removed again (unless another upload came to reference it meanwhile).
pub async fn store_upload(
    state: Arc<AppState>,
    plan: UploadPlan,
    ingested: Ingested,
) -> ApiResult<Stored> {
    blocking::run(move || record_upload(&state, plan, ingested)).await
}

/// Stores a body that was read into memory whole: hashing, writing, persisting and
/// recording in one trip to the blocking pool. Only for small bodies.
pub async fn store_small_upload(
    state: Arc<AppState>,
    plan: UploadPlan,
    body: Bytes,
) -> ApiResult<Stored> {
    blocking::run(move || {
        let mut hasher = MultiHasher::new();
        hasher.update(&body);
        let digests = hasher.finalize();
        verify_claims(&plan, &digests)?;
        let mut pending = state.store.begin()?;
        pending.write_all(&body)?;
        record_upload(&state, plan, Ingested { pending, digests })
    })
    .await
}

/// Refuses content that lacks a digest the client claimed for it.
fn verify_claims(plan: &UploadPlan, digests: &Digests) -> ApiResult<()> {
    for claim in &plan.claimed {
        claim.verify(digests)?;
    }
    Ok(())
}

/// The format's size limit holds for every upload, whether or not the format refused a
/// large body earlier (`limit_errors::body_limit`, while streaming); the owner's quota is
/// checked when the file is recorded.
fn check_type_size(state: &AppState, plan: &UploadPlan, digests: &Digests) -> ApiResult<()> {
    let limit = state.settings.limits.size_of(plan.package_type);
    if !plan.exempt_from_limits && limit.exceeded_by(digests.size.max(0) as u64) {
        return Err(ApiError::Forbidden(limit_errors::TYPE_SIZE));
    }
    Ok(())
}

/// [`store_upload`]'s work; answers the digests of the stored content. Blocking.
fn record_upload(state: &AppState, plan: UploadPlan, ingested: Ingested) -> ApiResult<Stored> {
    let Ingested { pending, digests } = ingested;
    // Dropping the pending blob on a refusal discards it: nothing is stored.
    check_type_size(state, &plan, &digests)?;
    verify_claims(&plan, &digests)?;
    let stored = state.store.persist(pending, &digests.sha256)?;
    record_stored(state, plan, stored, digests)
}

/// Records the file of content already readable under its key (`stored`) with `digests`,
/// and confirms or discards the content by the outcome. Blocking.
pub fn record_stored(
    state: &AppState,
    plan: UploadPlan,
    stored: Box<dyn packages_core::StoredBlob>,
    digests: Digests,
) -> ApiResult<Stored> {
    let key = stored.key().to_owned();
    let was_present = stored.was_present();
    let limits = &state.settings.limits;
    let mode = plan.mode.clone();
    let upload = NewUpload {
        owner_id: plan.owner_id,
        creator_id: plan.creator_id,
        ptype: plan.package_type,
        name: plan.name,
        version: plan.version,
        file_name: plan.file_name,
        storage_key: (key != digests.sha256).then(|| key.clone()),
        digests: digests.clone(),
        limits: UploadLimits {
            total_owner_count: limits.total_owner_count,
            total_owner_size: limits.total_owner_size,
            exempt: plan.exempt_from_limits,
        },
    };
    let recorded = match &mode {
        WriteMode::Replace(tags) => {
            state
                .db
                .replace_file(&upload, &plan.details.lower_name, tags.as_deref())
        }
        WriteMode::Create | WriteMode::CreateOnly => state.db.add_file_with(&upload, &plan.details),
    };
    match recorded {
        Ok(added) => {
            // Known content keeps its earlier key; the store drops this upload's copy then.
            stored.confirm(added.blob_created)?;
            Ok(Stored {
                digests,
                replaced: matches!(mode, WriteMode::Replace(_)),
            })
        }
        Err(packages_db::DbError::FileExists) => {
            drop(stored);
            if !was_present {
                state.leftovers.discard(&*state.store, &state.db, &key);
            }
            Err(mode.exists_error())
        }
        Err(e) => {
            drop(stored);
            if !was_present {
                state.leftovers.discard(&*state.store, &state.db, &key);
            }
            Err(e.into())
        }
    }
}

/// The answer to a stored upload: 201 (200 when it replaced a file) with `Location` (the
/// file's download URL, the URL it was uploaded to) and a small JSON document of its size and
/// digests, which clients that only look at the status ignore.
pub fn created(req: &HttpRequest, file_name: &str, stored: &Stored) -> HttpResponse {
    let url = crate::urls::absolute(req, req.uri().path());
    let digests = &stored.digests;
    let mut builder = if stored.replaced {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    builder
        .insert_header((header::LOCATION, url.clone()))
        .json(StoredFile {
            file: file_name.to_owned(),
            size: digests.size,
            md5: digests.md5.clone(),
            sha1: digests.sha1.clone(),
            sha256: digests.sha256.clone(),
            sha512: digests.sha512.clone(),
            url,
        })
}

/// The body of an upload's 201 (or 200): the stored file's size and digests (hex) and its
/// download URL.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct StoredFile {
    pub file: String,
    pub size: i64,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
    pub url: String,
}

/// Reads the digests an upload's headers claim for its body.
pub fn claimed_digests(headers: &HeaderMap) -> ApiResult<Vec<ClaimedDigest>> {
    Ok(packages_core::digest_header::claimed_digests(|name| {
        headers.get(name).map(|v| v.to_str().map_err(|_| ()))
    })?)
}

/// Reads a body of at most `max` bytes into memory; the caller has checked the announced
/// length, this guards the actual one.
pub async fn read_small_body<S>(mut body: S, max: usize) -> ApiResult<Bytes>
where
    S: Stream<Item = ApiResult<Bytes>> + Unpin,
{
    let mut buf = actix_web::web::BytesMut::with_capacity(max);
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if buf.len() + chunk.len() > max {
            return Err(ApiError::BadRequest(
                "request body longer than its Content-Length".to_owned(),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

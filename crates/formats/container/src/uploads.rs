//! Blob uploads, in every shape clients use:
//! - `POST …/blobs/uploads/?digest=` with the whole blob (201);
//! - `POST …/blobs/uploads/` (202, a session), then any number of `PATCH`es (streamed, or
//!   chunks with `Content-Range: {start}-{end}`; a chunk not starting at the offset is 416),
//!   then `PUT …?digest=` with the last chunk or none (201);
//! - `GET` of a session (204 with `Range`), `DELETE` (204, abandons it);
//! - `POST …/blobs/uploads/?mount={digest}&from={repo}` (201 when the caller may read the
//!   source repository and it has the blob, else a new session).
//!
//! A session is a row of the shared resumable uploads (type `container`) and content in the
//! blob store's pending area, so its next request may reach any instance; the expiry sweep
//! removes abandoned ones. The digest is checked before the blob is kept: a mismatch keeps
//! nothing. A blob becomes a file (named by its digest) of the image's internal `_upload`
//! version until a manifest references it.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use packages_api::blocking;
use packages_api::body::RequestBody;
use packages_api::error::ApiError;
use packages_api::resumable;
use packages_api::state::AppState;
use packages_api::upload::{self, UploadPlan};
use packages_api::write_mode::WriteMode;
use packages_core::clock::now_unix;
use packages_core::{AccessMode, Digests, FormatRules, Limit, StorageError};
use packages_db::{FileDetails, NewUpload, PackageBlob, ResumableUpload, UploadLimits};
use packages_service::auth::AuthContext;

use crate::auth::{access, pusher};
use crate::errors::{range_value, OciError, OciResult};
use crate::names::{Digest, Repo};
use crate::Container;

/// The internal version holding blobs no manifest references yet. No tag can start with `.`,
/// so no tag can ever name it (the reference registry's `_upload` is a valid tag).
pub const UPLOAD_VERSION: &str = ".upload";

/// Who pushes into which owner.
#[derive(Debug, Clone, Copy)]
struct Pusher {
    owner_id: i64,
    creator_id: i64,
    exempt: bool,
}

/// Checks the caller may push to the repository's owner. Blocking.
fn authorize_push(state: &AppState, auth: &AuthContext, repo: &Repo) -> OciResult<Pusher> {
    let access = access(state, auth, &repo.owner, AccessMode::Write)?;
    let doer = pusher(auth)?;
    Ok(Pusher {
        owner_id: access.owner.id,
        creator_id: doer.id,
        exempt: doer.is_admin,
    })
}

fn session_path(repo: &Repo, id: &str) -> String {
    format!("/v2/{}/blobs/uploads/{id}", repo.full())
}

fn blob_path(repo: &Repo, digest: &Digest) -> String {
    format!("/v2/{}/blobs/{digest}", repo.full())
}

/// The 201 of a blob that is now in the repository.
fn created(req: &HttpRequest, repo: &Repo, digest: &Digest) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            packages_api::urls::absolute(req, &blob_path(repo, digest)),
        ))
        .insert_header(("Docker-Content-Digest", digest.to_string()))
        .finish()
}

/// A 202 (or 204 for a status query) describing session `id` at `offset`.
fn session_answer(
    req: &HttpRequest,
    status: StatusCode,
    repo: &Repo,
    id: &str,
    offset: u64,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::LOCATION,
            packages_api::urls::absolute(req, &session_path(repo, id)),
        ))
        .insert_header(("Range", range_value(offset)))
        .insert_header(("Docker-Upload-UUID", id.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn query_value(req: &HttpRequest, key: &str) -> Option<String> {
    let pairs = packages_api::urls::query_pairs(req.query_string());
    packages_api::urls::query_value(&pairs, key).map(str::to_owned)
}

/// `POST /v2/{name}/blobs/uploads/`.
pub async fn start(
    req: HttpRequest,
    body: RequestBody,
    state: Arc<AppState>,
    auth: AuthContext,
    repo: Repo,
) -> OciResult<HttpResponse> {
    let digest = query_value(&req, "digest")
        .map(|d| Digest::parse(&d))
        .transpose()?;
    let mount = query_value(&req, "mount");
    let from = query_value(&req, "from");
    let pusher = {
        let (state, auth, repo) = (state.clone(), auth.clone(), repo.clone());
        crate::blocking(move || authorize_push(&state, &auth, &repo)).await?
    };
    if let (Some(mount), Some(from)) = (mount, from) {
        let digest = Digest::parse(&mount)?;
        let (state2, auth2, repo2, digest2) =
            (state.clone(), auth.clone(), repo.clone(), digest.clone());
        let mounted =
            crate::blocking(move || mount_blob(&state2, &auth2, pusher, &repo2, &from, &digest2))
                .await?;
        if mounted {
            return Ok(created(&req, &repo, &digest));
        }
    }
    if let Some(digest) = digest {
        return monolithic(&req, body, state, pusher, &repo, digest).await;
    }
    let (state2, repo2) = (state.clone(), repo.clone());
    let id = crate::blocking(move || create_session(&state2, pusher, &repo2)).await?;
    Ok(session_answer(&req, StatusCode::ACCEPTED, &repo, &id, 0))
}

/// The size a session may grow to: the type's size limit, or no limit.
fn session_length(state: &AppState, exempt: bool) -> i64 {
    match state.settings.limits.size_of(Container.package_type()) {
        Limit::AtMost(max) if !exempt => max.min(i64::MAX as u64) as i64,
        _ => i64::MAX,
    }
}

/// Records a new session. Blocking.
fn create_session(state: &AppState, pusher: Pusher, repo: &Repo) -> OciResult<String> {
    let id = resumable::new_id()?;
    let store_state = state.store.resumable_create(&id).map_err(ApiError::from)?;
    let now = now_unix();
    let expiry = state
        .settings
        .resumable_expiry
        .as_secs()
        .min(i64::MAX as u64 / 2) as i64;
    let row = ResumableUpload {
        id: id.clone(),
        owner_id: pusher.owner_id,
        creator_id: pusher.creator_id,
        exempt_from_limits: pusher.exempt,
        package_name: Container.lookup_name(&repo.image),
        package_version: String::new(),
        file_name: String::new(),
        upload_length: session_length(state, pusher.exempt),
        upload_offset: 0,
        metadata: String::new(),
        store_state,
        lease: None,
        lease_until: None,
        created_unix: now,
        expires_unix: now.saturating_add(expiry),
        package_type: Container.package_type().as_str().to_owned(),
    };
    if let Err(e) = state.db.create_resumable(&row) {
        if let Err(a) = state.store.resumable_abort(&row.id, &row.store_state) {
            log::warn!("could not remove the content of an upload never recorded: {a}");
        }
        return Err(e.into());
    }
    Ok(id)
}

/// Links a blob of repository `from` into `repo` when the caller may read `from` and it has
/// the blob; false otherwise (the client then uploads it). Blocking.
fn mount_blob(
    state: &AppState,
    auth: &AuthContext,
    pusher: Pusher,
    repo: &Repo,
    from: &str,
    digest: &Digest,
) -> OciResult<bool> {
    let Ok(source) = Repo::parse(from) else {
        return Ok(false);
    };
    let Ok(source_access) = access(state, auth, &source.owner, AccessMode::Read) else {
        return Ok(false);
    };
    let Some(blob) = state.db.package_content(
        source_access.owner.id,
        Container.package_type(),
        &Container.lookup_name(&source.image),
        &digest.hex,
    )?
    else {
        return Ok(false);
    };
    link_blob(state, pusher, repo, &blob)?;
    Ok(true)
}

/// Makes known content a blob of `repo`. Blocking.
fn link_blob(state: &AppState, pusher: Pusher, repo: &Repo, blob: &PackageBlob) -> OciResult<()> {
    let limits = &state.settings.limits;
    let upload = NewUpload {
        owner_id: pusher.owner_id,
        creator_id: pusher.creator_id,
        ptype: Container.package_type(),
        name: repo.image.clone(),
        version: UPLOAD_VERSION.to_owned(),
        file_name: Digest::of_hex(&blob.hash_sha256).to_string(),
        digests: Digests {
            size: blob.size,
            md5: blob.hash_md5.clone(),
            sha1: blob.hash_sha1.clone(),
            sha256: blob.hash_sha256.clone(),
            sha512: blob.hash_sha512.clone(),
        },
        storage_key: blob.storage_key.clone(),
        limits: UploadLimits {
            total_owner_count: limits.total_owner_count,
            total_owner_size: limits.total_owner_size,
            exempt: pusher.exempt,
        },
    };
    match state.db.add_file_with(&upload, &staging_details(repo)) {
        Ok(_) | Err(packages_db::DbError::FileExists) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// How a blob is filed until a manifest references it.
fn staging_details(repo: &Repo) -> FileDetails {
    FileDetails {
        lower_name: Container.lookup_name(&repo.image),
        version_metadata: None,
        composite_key: String::new(),
        is_lead: false,
        internal_version: true,
        properties: Vec::new(),
    }
}

fn staging_plan(pusher: Pusher, repo: &Repo, digest: &Digest) -> UploadPlan {
    UploadPlan {
        owner_id: pusher.owner_id,
        creator_id: pusher.creator_id,
        exempt_from_limits: pusher.exempt,
        package_type: Container.package_type(),
        name: repo.image.clone(),
        version: UPLOAD_VERSION.to_owned(),
        file_name: digest.to_string(),
        details: staging_details(repo),
        body_limit: None,
        claimed: Vec::new(),
        mode: WriteMode::Create,
    }
}

/// A blob uploaded again is the same blob: success.
fn keep_existing(result: Result<upload::Stored, ApiError>) -> OciResult<()> {
    match result {
        Ok(_) | Err(ApiError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `POST ?digest=` with the whole blob as the body.
async fn monolithic(
    req: &HttpRequest,
    body: RequestBody,
    state: Arc<AppState>,
    pusher: Pusher,
    repo: &Repo,
    digest: Digest,
) -> OciResult<HttpResponse> {
    let announced = upload::content_length(req.headers())?;
    let limit = packages_service::limits::body_limit(
        &state,
        Container.package_type(),
        pusher.owner_id,
        pusher.exempt,
        announced,
    )?;
    let ingested = upload::receive_body(&state, body, limit).await?;
    if ingested.digests.sha256 != digest.hex {
        // Dropping the pending content discards it.
        return Err(mismatch(&digest, &ingested.digests.sha256));
    }
    let plan = staging_plan(pusher, repo, &digest);
    keep_existing(upload::store_upload(state, plan, ingested).await)?;
    Ok(created(req, repo, &digest))
}

fn mismatch(claimed: &Digest, actual_hex: &str) -> OciError {
    OciError::digest_invalid("the content does not have the digest the client named").with_detail(
        serde_json::json!({
            "claimed": claimed.to_string(),
            "actual": Digest::of_hex(actual_hex).to_string(),
        }),
    )
}

/// The session `id` of `repo` when the caller may push there. Blocking.
fn session(
    state: &AppState,
    auth: &AuthContext,
    repo: &Repo,
    id: &str,
) -> OciResult<(Pusher, ResumableUpload)> {
    let pusher = authorize_push(state, auth, repo)?;
    if !packages_core::blob_store::is_resumable_id(id) {
        return Err(OciError::upload_unknown());
    }
    let row = state
        .db
        .resumable(id)?
        .filter(|u| {
            u.owner_id == pusher.owner_id
                && u.package_type == Container.package_type().as_str()
                && u.package_name == Container.lookup_name(&repo.image)
                && u.expires_unix > now_unix()
        })
        .ok_or_else(OciError::upload_unknown)?;
    Ok((pusher, row))
}

/// Parses `Content-Range: {start}-{end}` (a `bytes ` prefix is tolerated).
fn content_range(headers: &HeaderMap) -> OciResult<Option<(u64, u64)>> {
    let Some(value) = headers.get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let bad = || {
        OciError::upload_invalid(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "Content-Range must be {start}-{end}",
        )
    };
    let text = value.to_str().map_err(|_| bad())?.trim();
    let text = text.strip_prefix("bytes ").unwrap_or(text);
    let text = text.split('/').next().unwrap_or(text);
    let (start, end) = text.split_once('-').ok_or_else(bad)?;
    let start: u64 = start.trim().parse().map_err(|_| bad())?;
    let end: u64 = end.trim().parse().map_err(|_| bad())?;
    if end < start {
        return Err(bad());
    }
    Ok(Some((start, end)))
}

/// Whether the request carries a body to append.
fn has_body(headers: &HeaderMap) -> OciResult<bool> {
    Ok(match upload::content_length(headers)? {
        Some(len) => len > 0,
        None => headers.contains_key(header::TRANSFER_ENCODING),
    })
}

/// Appends the request body to the session at its offset (or where `Content-Range` says,
/// which must be the offset); answers the new offset.
async fn append(
    req: &HttpRequest,
    body: RequestBody,
    state: &Arc<AppState>,
    row: ResumableUpload,
) -> OciResult<u64> {
    let offset = row.upload_offset as u64;
    if let Some((start, end)) = content_range(req.headers())? {
        if start != offset {
            let mut e = OciError::upload_invalid(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "the chunk does not start where the upload stands",
            );
            e.range = Some(offset);
            return Err(e);
        }
        if let Some(len) = upload::content_length(req.headers())? {
            if len != end - start + 1 {
                let mut e = OciError::upload_invalid(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "Content-Range and Content-Length disagree",
                );
                e.range = Some(offset);
                return Err(e);
            }
        }
    }
    let options = resumable::AppendOptions {
        check: None,
        on_complete: None,
        missing: ApiError::NotFound("blob upload unknown to registry"),
        // A blob sent whole in one PATCH (skopeo, docker) is hashed on the way in, so its
        // PUT needs no second pass over it.
        record_digests: true,
    };
    resumable::append(state.clone(), row, offset, options, body)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => OciError::upload_unknown(),
            ApiError::PayloadTooLarge(_) => {
                OciError::size_invalid(packages_service::limits::TYPE_SIZE)
            }
            ApiError::Conflict(m) => {
                let mut e = OciError::upload_invalid(StatusCode::RANGE_NOT_SATISFIABLE, m);
                e.range = Some(offset);
                e
            }
            other => other.into(),
        })
}

/// `GET`, `PATCH`, `PUT` and `DELETE` of `/v2/{name}/blobs/uploads/{id}`.
pub async fn session_request(
    req: HttpRequest,
    body: RequestBody,
    state: Arc<AppState>,
    auth: AuthContext,
    repo: Repo,
    id: String,
) -> OciResult<HttpResponse> {
    let (pusher, row) = {
        let (state, auth, repo, id) = (state.clone(), auth.clone(), repo.clone(), id.clone());
        crate::blocking(move || session(&state, &auth, &repo, &id)).await?
    };
    match req.method().as_str() {
        "GET" | "HEAD" => Ok(session_answer(
            &req,
            StatusCode::NO_CONTENT,
            &repo,
            &id,
            row.upload_offset as u64,
        )),
        "PATCH" => {
            let offset = append(&req, body, &state, row).await?;
            Ok(session_answer(
                &req,
                StatusCode::ACCEPTED,
                &repo,
                &id,
                offset,
            ))
        }
        "PUT" => {
            let digest = query_value(&req, "digest")
                .ok_or_else(|| OciError::digest_invalid("PUT needs ?digest= naming the blob"))
                .and_then(|d| Digest::parse(&d))?;
            if has_body(req.headers())? {
                append(&req, body, &state, row).await?;
            }
            let (state2, repo2, digest2) = (state.clone(), repo.clone(), digest.clone());
            crate::blocking(move || finish(&state2, pusher, &repo2, &id, &digest2)).await?;
            Ok(created(&req, &repo, &digest))
        }
        "DELETE" => {
            blocking::run(move || {
                let (row, token) = resumable::take_lease(
                    &state,
                    &row.id,
                    None,
                    ApiError::NotFound("blob upload unknown to registry"),
                )?;
                resumable::remove(&state, &row, &token)
            })
            .await
            .map_err(|e| match e {
                ApiError::NotFound(_) => OciError::upload_unknown(),
                other => other.into(),
            })?;
            Ok(HttpResponse::NoContent().finish())
        }
        _ => Err(OciError::unsupported("method not allowed on an upload")),
    }
}

/// Completes session `id`: the content must have `digest`; then it is kept as a blob of the
/// repository and the session ends. On a mismatch nothing is kept. Blocking.
fn finish(
    state: &AppState,
    pusher: Pusher,
    repo: &Repo,
    id: &str,
    digest: &Digest,
) -> OciResult<()> {
    let (row, token) = resumable::take_lease(
        state,
        id,
        None,
        ApiError::NotFound("blob upload unknown to registry"),
    )
    .map_err(|e| match e {
        ApiError::NotFound(_) => OciError::upload_unknown(),
        other => other.into(),
    })?;
    let mut digests = None;
    let recorded = resumable::recorded_digests(&row);
    let finished = state.store.resumable_finish(
        &row.id,
        &row.store_state,
        row.upload_offset as u64,
        &mut |reader| {
            let d = match recorded.clone() {
                Some(d) => d,
                None => {
                    packages_storage::ingest::digest_parallel(reader).map_err(StorageError::Io)?
                }
            };
            let sha256 = d.sha256.clone();
            let matches = sha256 == digest.hex;
            digests = Some(d);
            if matches {
                Ok(sha256)
            } else {
                Err(StorageError::Io(std::io::Error::other(
                    "the content does not have the digest the client named",
                )))
            }
        },
    );
    let stored = match finished {
        Ok(stored) => stored,
        Err(e) => {
            if let Err(r) = resumable::remove(state, &row, &token) {
                log::warn!("could not remove a failed blob upload: {r}");
            }
            return Err(match &digests {
                Some(d) if d.sha256 != digest.hex => mismatch(digest, &d.sha256),
                _ => ApiError::from(e).into(),
            });
        }
    };
    let digests = digests.ok_or_else(|| ApiError::internal("completed without digests"))?;
    if let Err(e) = state.db.delete_resumable(&row.id, &token) {
        // The content is in place; a row left behind only expires.
        log::warn!("could not delete a completed upload's row: {e}");
    }
    let limit = state.settings.limits.size_of(Container.package_type());
    if !pusher.exempt && limit.exceeded_by(digests.size.max(0) as u64) {
        let (key, was_present) = (stored.key().to_owned(), stored.was_present());
        drop(stored);
        if !was_present {
            state.leftovers.discard(&*state.store, &state.db, &key);
        }
        return Err(OciError::size_invalid(packages_service::limits::TYPE_SIZE));
    }
    keep_existing(upload::record_stored(
        state,
        staging_plan(pusher, repo, digest),
        stored,
        digests,
    ))
}

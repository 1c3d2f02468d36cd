//! What every format does with a stored file: `GET`/`HEAD` with ranges, conditionals and the
//! download count, and `DELETE` of a file or a whole version.
//!
//! A download's look-up first runs on the async worker with cached reads only; when everything
//! it needs is in memory (the usual case for popular files) the request never touches the
//! blocking pool. Otherwise the same look-up runs again on the blocking pool.
//!
//! Deletes remove rows only; the content stays until the sweep finds it unreferenced, so a
//! concurrent download of the same blob is never cut short.

use std::ops::Range;
use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::signed_link::LinkClaims;
use forge_auth::Credentials;
use packages_core::{AccessMode, DirectDownload, StorageError};
use packages_db::{FileLookup, PackageBlob, PackageFile};
use packages_service::packages;

use crate::auth::{authenticate, authenticate_with};
use crate::blocking;
use crate::error::{ApiError, ApiResult};
use crate::file_headers;
use crate::formats::Format;
use crate::links;
use crate::registry::Target;
use crate::serve::{self, Content, FileHeaders, Plan, Source};
use crate::state::AppState;
use packages_service::access::{authorize_owner, authorize_owner_with};
use packages_service::reads::Reads;

/// What allows a download: the request's credentials, or a signed link.
#[derive(Debug, Clone)]
enum Grant {
    Credentials(Option<Credentials>),
    /// A verified link; it still has to name this file.
    Link(LinkClaims),
}

/// Serves a file of `format`; `head` sends the same headers without the body and counts no
/// download.
pub async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    format: &'static dyn Format,
    target: Target,
    file_name: String,
    head: bool,
) -> ApiResult<HttpResponse> {
    let state = state.into_inner();
    let transfer = serve::Transfer::of(&req, state.settings.idle_timeout);
    let grant = match links::token_in_query(req.query_string()) {
        Some(token) => Grant::Link(links::verify(&state, &token)?),
        None => Grant::Credentials(format.credentials(req.headers())?),
    };
    let fast = resolve(
        &Reads::cached_only(&state),
        format,
        grant.clone(),
        &target,
        &file_name,
        req.headers(),
        head,
    );
    let resolved = match fast {
        Err(ApiError::WouldBlock) => {
            // Copied only for the trip to the blocking pool; cached answers need no copy.
            let headers = req.headers().clone();
            blocking::run(move || {
                resolve(
                    &Reads::blocking(&state),
                    format,
                    grant,
                    &target,
                    &file_name,
                    &headers,
                    head,
                )
            })
            .await?
        }
        other => other?,
    };
    let FileLookup::Found { file, blob, .. } = &*resolved.lookup else {
        return Err(ApiError::internal("resolved a download without its file"));
    };
    let content = content_of(file, blob);
    Ok(match resolved.body {
        Body::Redirect(url) => serve::redirect(&url),
        Body::Source(source) => serve::respond(
            req.headers(),
            resolved.plan,
            &content,
            &*file_headers::for_lookup(&resolved.lookup, &content)?,
            source,
            head,
            &transfer,
        ),
    })
}

/// What the answer says about a stored file.
fn content_of<'a>(file: &'a PackageFile, blob: &'a PackageBlob) -> Content<'a> {
    Content {
        file_name: &file.name,
        size: blob.size.max(0) as u64,
        sha256: &blob.hash_sha256,
        sha512: &blob.hash_sha512,
        modified_unix: file.created_unix,
    }
}

/// What [`resolve`] found and how to answer.
struct Resolved {
    lookup: Arc<FileLookup>,
    plan: Plan,
    body: Body,
}

enum Body {
    Source(Source),
    /// Send the client to the object store (`FORGE_STORAGE_SERVE_DIRECT`).
    Redirect(String),
}

/// Authenticates, authorises, finds the file, decides the answer and gets the content ready
/// (opening it only when a body is sent); counts the download last, once nothing can ask
/// for a retry on the blocking pool any more.
fn resolve(
    reads: &Reads<'_>,
    format: &'static dyn Format,
    grant: Grant,
    target: &Target,
    file_name: &str,
    headers: &HeaderMap,
    head: bool,
) -> ApiResult<Resolved> {
    let state = reads.state;
    let owner_id = match &grant {
        Grant::Credentials(credentials) => {
            let auth = authenticate_with(reads, credentials.clone())?;
            authorize_owner_with(reads, &auth, &target.owner, AccessMode::Read)?
                .owner
                .id
        }
        Grant::Link(claims) => {
            let owner = reads
                .user_by_name(&target.owner)?
                .ok_or(ApiError::NotFound("owner does not exist"))?;
            let subject = LinkClaims::subject(
                owner.id,
                format.package_type().as_str(),
                &format.lookup_name(&target.name),
                &target.version,
                file_name,
            );
            links::check_subject(claims, &subject)?;
            owner.id
        }
    };
    let lookup = reads.find_file(
        owner_id,
        format.package_type(),
        &format.lookup_name(&target.name),
        &target.version,
        file_name,
    )?;
    let (version_id, file, blob) = match &*lookup {
        FileLookup::NoVersion => return Err(ApiError::NotFound("package does not exist")),
        FileLookup::NoFile { .. } => return Err(ApiError::NotFound("package file does not exist")),
        FileLookup::Found {
            version,
            file,
            blob,
        } => (version.id, file, blob),
    };
    if let Grant::Link(claims) = &grant {
        links::check_content(claims, &blob.hash_sha256)?;
    }
    let size = blob.size.max(0) as u64;
    let plan = serve::plan(headers, &content_of(file, blob));
    let range = serve::body_range(plan, size).filter(|_| !head);
    let body = match range {
        // HEAD and answers without a body never touch the store.
        None => Body::Source(Source::Empty),
        Some(range) => match state.settings.serve_direct {
            Some(ttl) => Body::Redirect(direct_url(state, blob, &file.name, ttl)?),
            None => Body::Source(open_content(reads, blob, file.id, range)?),
        },
    };
    if !head {
        if !state.downloads.is_batched() {
            reads.need_blocking()?;
        }
        // The counter is bookkeeping: failing to bump it must not fail the download.
        if let Err(e) = state.downloads.record(&state.db, version_id) {
            log::warn!("could not count a download of version {version_id}: {e}");
        }
    }
    Ok(Resolved { lookup, plan, body })
}

/// A presigned URL that makes the object store answer with this file's name and type.
/// Signing is local computation, so it may run on the async worker.
fn direct_url(
    state: &packages_service::Service,
    blob: &PackageBlob,
    file_name: &str,
    ttl: std::time::Duration,
) -> ApiResult<String> {
    let disposition = serve::content_disposition(file_name);
    let download = DirectDownload {
        content_disposition: &disposition,
        content_type: "application/octet-stream",
        ttl,
    };
    state
        .store
        .direct_url(blob.store_key(), &download)?
        .ok_or_else(|| ApiError::internal("serving directly needs an object store"))
}

/// The content to send: from the memory cache, or read whole when small (and cached), or a
/// stream of the range sent.
fn open_content(
    reads: &Reads<'_>,
    blob: &PackageBlob,
    file_id: i64,
    range: Range<u64>,
) -> ApiResult<Source> {
    let state = reads.state;
    if let Some(bytes) = state.cache.blob(&blob.hash_sha256) {
        return Ok(Source::Memory(bytes));
    }
    reads.need_blocking()?;
    let size = blob.size.max(0) as u64;
    // Small content is read whole so that it can be cached for every later range.
    let range = if size <= serve::SMALL_FILE {
        0..size
    } else {
        range
    };
    let reader = match open_waiting(&*state.store, blob.store_key(), range) {
        Ok(reader) => reader,
        Err(StorageError::NotFound(key)) => {
            return Err(ApiError::internal(format!(
                "blob {key} of file {file_id} is missing from storage"
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let source = Source::load(reader, size)
        .map_err(|e| ApiError::internal(format!("reading blob {}: {e}", blob.hash_sha256)))?;
    if let Source::Memory(bytes) = &source {
        state.cache.put_blob(&blob.hash_sha256, bytes.clone());
    }
    Ok(source)
}

/// How long a download waits for content the sweep has set aside: the sweep takes content
/// out of reach before its last check of the database, and puts it back when a row refers
/// to it, which this download's row does.
const SET_ASIDE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens content, waiting a moment when it is missing. Blocking.
fn open_waiting(
    store: &dyn packages_core::BlobStore,
    key: &str,
    range: Range<u64>,
) -> Result<packages_core::BlobReader, StorageError> {
    let deadline = std::time::Instant::now() + SET_ASIDE_WAIT;
    loop {
        match store.open(key, Some(range.clone())) {
            Err(StorageError::NotFound(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// The id of the owner whose packages the caller may change (anonymous callers get the 401
/// the access rules give them). Blocking.
pub fn writable_owner(
    state: &AppState,
    credentials: Option<Credentials>,
    owner: &str,
) -> ApiResult<i64> {
    let auth = authenticate(state, credentials)?;
    Ok(authorize_owner(state, &auth, owner, AccessMode::Write)?
        .owner
        .id)
}

/// Deletes one file of `format`; the version goes too when it was its last file.
pub async fn delete_file(
    req: HttpRequest,
    state: web::Data<AppState>,
    format: &'static dyn Format,
    target: Target,
    file_name: String,
) -> ApiResult<HttpResponse> {
    let credentials = format.credentials(req.headers())?;
    let state = state.into_inner();
    blocking::run(move || {
        let owner_id = writable_owner(&state, credentials, &target.owner)?;
        packages::delete_file(
            &state,
            owner_id,
            format,
            &target.name,
            &target.version,
            &file_name,
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes a version of `format` with all its files.
pub async fn delete_version(
    req: HttpRequest,
    state: web::Data<AppState>,
    format: &'static dyn Format,
    target: Target,
) -> ApiResult<HttpResponse> {
    let credentials = format.credentials(req.headers())?;
    let state = state.into_inner();
    blocking::run(move || {
        let owner_id = writable_owner(&state, credentials, &target.owner)?;
        Ok(packages::delete_version(
            &state,
            owner_id,
            format,
            &target.name,
            &target.version,
        )?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Serves content a format found by its own look-up (a container blob by digest): ranges,
/// conditionals and the object store's direct URLs as for every download, without counting
/// one. `file_name` is what the client is offered to save it as.
pub async fn serve_content(
    req: &HttpRequest,
    state: Arc<AppState>,
    blob: PackageBlob,
    file_name: String,
    modified_unix: i64,
    head: bool,
) -> ApiResult<HttpResponse> {
    let transfer = serve::Transfer::of(req, state.settings.idle_timeout);
    let size = blob.size.max(0) as u64;
    let content = Content {
        file_name: &file_name,
        size,
        sha256: &blob.hash_sha256,
        sha512: &blob.hash_sha512,
        modified_unix,
    };
    let plan = serve::plan(req.headers(), &content);
    let source = match serve::body_range(plan, size).filter(|_| !head) {
        None => Source::Empty,
        Some(range) => match state.settings.serve_direct {
            Some(ttl) => {
                return Ok(serve::redirect(&direct_url(
                    &state, &blob, &file_name, ttl,
                )?))
            }
            None => {
                let state = state.clone();
                let blob = blob.clone();
                blocking::run(move || open_content(&Reads::blocking(&state), &blob, 0, range))
                    .await?
            }
        },
    };
    Ok(serve::respond(
        req.headers(),
        plan,
        &content,
        &FileHeaders::build(&content)?,
        source,
        head,
        &transfer,
    ))
}

//! What every format does with a stored file: `GET`/`HEAD` with ranges, conditionals and the
//! download count, and `DELETE` of a file or a whole version.
//!
//! A download's look-up first runs on the async worker with cached reads only; when everything
//! it needs is in memory (the usual case for popular files) the request never touches the
//! blocking pool. Otherwise the same look-up runs again on the blocking pool.
//!
//! Deletes remove rows only; the content stays until the sweep finds it unreferenced, so a
//! concurrent download of the same blob is never cut short.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::Credentials;
use packages_core::{lower, AccessMode, BlobReader, StorageError};
use packages_db::{DeleteFileOutcome, FileLookup};

use crate::access::{authorize_owner, authorize_owner_with};
use crate::auth::{authenticate, authenticate_with, credentials_of};
use crate::blocking;
use crate::error::{ApiError, ApiResult};
use crate::formats::Format;
use crate::reads::Reads;
use crate::registry::Target;
use crate::serve::{self, Content, Source};
use crate::state::AppState;

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
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    let fast = resolve(
        &Reads::cached_only(&state),
        format,
        credentials.clone(),
        &target,
        &file_name,
        head,
    );
    let (lookup, source) = match fast {
        Err(ApiError::WouldBlock) => {
            blocking::run(move || {
                resolve(
                    &Reads::blocking(&state),
                    format,
                    credentials,
                    &target,
                    &file_name,
                    head,
                )
            })
            .await?
        }
        other => other?,
    };
    let FileLookup::Found { file, blob, .. } = &*lookup else {
        return Err(ApiError::internal("resolved a download without its file"));
    };
    let content = Content {
        file_name: &file.name,
        size: blob.size.max(0) as u64,
        sha256: &blob.hash_sha256,
        sha512: &blob.hash_sha512,
        modified_unix: file.created_unix,
    };
    let plan = serve::plan(req.headers(), &content);
    Ok(serve::respond(req.headers(), plan, &content, source, head))
}

/// Authenticates, authorises, finds the file and gets its content ready; counts the download
/// last, once nothing can ask for a retry on the blocking pool any more.
fn resolve(
    reads: &Reads<'_>,
    format: &'static dyn Format,
    credentials: Option<Credentials>,
    target: &Target,
    file_name: &str,
    head: bool,
) -> ApiResult<(Arc<FileLookup>, Source)> {
    let state = reads.state;
    let auth = authenticate_with(reads, credentials)?;
    let access = authorize_owner_with(reads, &auth, &target.owner, AccessMode::Read)?;
    let lookup = reads.find_file(
        access.owner.id,
        format.package_type(),
        &format.lookup_name(&target.name),
        &target.version,
        file_name,
    )?;
    let (version_id, file_id, blob) = match &*lookup {
        FileLookup::NoVersion => return Err(ApiError::NotFound("package does not exist")),
        FileLookup::NoFile { .. } => return Err(ApiError::NotFound("package file does not exist")),
        FileLookup::Found {
            version,
            file,
            blob,
        } => (version.id, file.id, blob),
    };
    let source = match state.cache.blob(&blob.hash_sha256) {
        Some(bytes) => Source::Memory(bytes),
        None => {
            reads.need_blocking()?;
            let file = match state.store.open(&blob.hash_sha256) {
                Ok(BlobReader::File(f, _)) => f,
                Err(StorageError::NotFound(key)) => {
                    return Err(ApiError::internal(format!(
                        "blob {key} of file {file_id} is missing from storage"
                    )))
                }
                Err(e) => return Err(e.into()),
            };
            let source = if head {
                Source::File(file)
            } else {
                Source::load(file, blob.size.max(0) as u64).map_err(|e| {
                    ApiError::internal(format!("reading blob {}: {e}", blob.hash_sha256))
                })?
            };
            if let Source::Memory(bytes) = &source {
                state.cache.put_blob(&blob.hash_sha256, bytes.clone());
            }
            source
        }
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
    Ok((lookup, source))
}

/// The id of the owner whose packages the caller may change. Blocking.
fn writable_owner(
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
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    blocking::run(move || {
        let owner_id = writable_owner(&state, credentials, &target.owner)?;
        let outcome = state.db.delete_file(
            owner_id,
            format.package_type(),
            &format.lookup_name(&target.name),
            &lower(&target.version),
            &lower(&file_name),
        )?;
        match outcome {
            DeleteFileOutcome::NoVersion => Err(ApiError::NotFound("package does not exist")),
            DeleteFileOutcome::NoFile => Err(ApiError::NotFound("package file does not exist")),
            DeleteFileOutcome::Deleted { .. } => Ok(()),
        }
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
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    blocking::run(move || {
        let owner_id = writable_owner(&state, credentials, &target.owner)?;
        let deleted = state.db.delete_version(
            owner_id,
            format.package_type(),
            &format.lookup_name(&target.name),
            &lower(&target.version),
        )?;
        if deleted {
            Ok(())
        } else {
            Err(ApiError::NotFound("package does not exist"))
        }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

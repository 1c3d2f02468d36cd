//! `GET` and `HEAD` of a generic file.

use actix_web::{web, HttpRequest, HttpResponse};
use packages_core::{lower, AccessMode, BlobReader, PackageType, StorageError};
use packages_db::FileLookup;

use super::Target;
use crate::access::authorize_owner;
use crate::auth::{authenticate, credentials_of};
use crate::blocking;
use crate::error::{ApiError, ApiResult};
use crate::serve::{self, Content, Source};
use crate::state::AppState;

/// Serves a file; `head` sends the same headers without the body and counts no download.
pub async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
    target: Target,
    file_name: String,
    head: bool,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    let found = blocking::run(move || {
        let auth = authenticate(&state, credentials)?;
        let access = authorize_owner(&state, &auth, &target.owner, AccessMode::Read)?;
        let lookup = state.db.find_file(
            access.owner.id,
            PackageType::Generic,
            &lower(&target.name),
            &lower(&target.version),
            &lower(&file_name),
        )?;
        let (version, file, blob) = match lookup {
            FileLookup::NoVersion => return Err(ApiError::NotFound("package does not exist")),
            FileLookup::NoFile { .. } => {
                return Err(ApiError::NotFound("package file does not exist"))
            }
            FileLookup::Found {
                version,
                file,
                blob,
            } => (version, file, blob),
        };
        let reader = match state.store.open(&blob.hash_sha256) {
            Ok(BlobReader::File(f, _)) if head => Source::File(f),
            Ok(BlobReader::File(f, _)) => {
                Source::load(f, blob.size.max(0) as u64).map_err(|e| {
                    ApiError::internal(format!("reading blob {}: {e}", blob.hash_sha256))
                })?
            }
            Err(StorageError::NotFound(key)) => {
                return Err(ApiError::internal(format!(
                    "blob {key} of file {} is missing from storage",
                    file.id
                )))
            }
            Err(e) => return Err(e.into()),
        };
        if !head {
            // The counter is bookkeeping: failing to bump it must not fail the download.
            if let Err(e) = state.downloads.record(&state.db, version.id) {
                log::warn!("could not count a download of version {}: {e}", version.id);
            }
        }
        Ok((file, blob, reader))
    })
    .await?;
    let (file, blob, reader) = found;
    let content = Content {
        file_name: &file.name,
        size: blob.size.max(0) as u64,
        sha256: &blob.hash_sha256,
        modified_unix: file.created_unix,
    };
    let plan = serve::plan(req.headers(), &content);
    Ok(serve::respond(plan, &content, reader, head))
}

//! `DELETE` of a generic file or version. Only rows go; the content stays until the sweep
//! finds it unreferenced, so a concurrent download of the same blob is never cut short.

use actix_web::{web, HttpRequest, HttpResponse};
use packages_core::{lower, AccessMode, PackageType};
use packages_db::DeleteFileOutcome;

use super::Target;
use crate::access::authorize_owner;
use crate::auth::{authenticate, credentials_of};
use crate::blocking;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Deletes one file; the version goes too when it was its last file.
pub async fn delete_file(
    req: HttpRequest,
    state: web::Data<AppState>,
    target: Target,
    file_name: String,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    blocking::run(move || {
        let auth = authenticate(&state, credentials)?;
        let access = authorize_owner(&state, &auth, &target.owner, AccessMode::Write)?;
        let outcome = state.db.delete_file(
            access.owner.id,
            PackageType::Generic,
            &lower(&target.name),
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

/// Deletes a version with all its files.
pub async fn delete_version(
    req: HttpRequest,
    state: web::Data<AppState>,
    target: Target,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    blocking::run(move || {
        let auth = authenticate(&state, credentials)?;
        let access = authorize_owner(&state, &auth, &target.owner, AccessMode::Write)?;
        let deleted = state.db.delete_version(
            access.owner.id,
            PackageType::Generic,
            &lower(&target.name),
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

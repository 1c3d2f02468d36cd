//! `PUT` of a generic file.
//!
//! Everything that can refuse the upload without its body is decided before the body is
//! read: credentials, owner, permission, validation, the size limit against
//! `Content-Length`, and an existing file of the same name. The body then streams into the
//! blob store while it is hashed; rows are written only once the content is complete.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::Credentials;
use futures_util::StreamExt;
use packages_core::validation::validate_upload;
use packages_core::{lower, AccessMode, PackageType};

use super::Target;
use crate::access::authorize_owner;
use crate::auth::{authenticate, credentials_in, credentials_of};
use crate::blocking;
use crate::error::{ApiError, ApiResult};
use crate::registry::path::RegistryPath;
use crate::state::AppState;
use crate::upload::{limit_errors, receive_body, store_upload, UploadPlan};

/// Uploads one file into a (possibly new) package version.
pub async fn upload(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    target: Target,
    file_name: String,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let announced = content_length(req.headers())?;
    let app = state.clone().into_inner();
    let plan =
        blocking::run(move || prepare(&app, credentials, &target, &file_name, announced)).await?;
    let ingested = receive_body(
        &state,
        payload.map(|c| c.map_err(|e| e.to_string())),
        plan.body_limit,
    )
    .await?;
    store_upload(state.into_inner(), plan, ingested).await?;
    Ok(HttpResponse::Created().finish())
}

/// Everything that can refuse an upload before its body: credentials, owner, permission,
/// validation, limits against the announced size, an existing file. Blocking.
pub fn prepare(
    app: &AppState,
    credentials: Option<Credentials>,
    target: &Target,
    file_name: &str,
    announced: Option<u64>,
) -> ApiResult<UploadPlan> {
    let auth = authenticate(app, credentials)?;
    let access = authorize_owner(app, &auth, &target.owner, AccessMode::Write)?;
    let doer = auth
        .doer
        .ok_or(ApiError::Unauthorized("sign in to upload packages"))?;
    let (name, version, file) = validate_upload(&target.name, &target.version, file_name)?;
    let body_limit = limit_errors::body_limit(app, access.owner.id, doer.is_admin, announced)?;
    let plan = UploadPlan {
        owner_id: access.owner.id,
        creator_id: doer.id,
        exempt_from_limits: doer.is_admin,
        package_type: PackageType::Generic,
        name: name.into_inner(),
        version: version.into_inner(),
        file_name: file.into_inner(),
        body_limit,
    };
    if app.db.file_exists(
        plan.owner_id,
        plan.package_type,
        &lower(&plan.name),
        &lower(&plan.version),
        &lower(&plan.file_name),
    )? {
        return Err(ApiError::Conflict("package file already exists"));
    }
    Ok(plan)
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

/// The pre-body checks for a client that waits for `100 Continue`.
pub async fn check_expectation(
    app: Arc<AppState>,
    headers: &HeaderMap,
    path: RegistryPath,
) -> ApiResult<()> {
    let mut rest = path.rest.into_iter();
    let (Some(name), Some(version), Some(file_name), None) =
        (rest.next(), rest.next(), rest.next(), rest.next())
    else {
        return Ok(());
    };
    let credentials = credentials_in(headers)?;
    let announced = content_length(headers)?;
    let target = Target {
        owner: path.owner,
        name,
        version,
    };
    blocking::run(move || prepare(&app, credentials, &target, &file_name, announced).map(|_| ()))
        .await
}

//! `PUT` of a generic file.
//!
//! Everything that can refuse the upload without its body is decided before the body is
//! read: credentials, owner, permission, validation, the size limit against
//! `Content-Length`, and an existing file of the same name. The body then streams into the
//! blob store while it is hashed; rows are written only once the content is complete.

use std::sync::Arc;

use crate::rules::validate_upload;
use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::Credentials;
use futures_util::future::LocalBoxFuture;
use packages_core::{lower, Limit, PackageType, ValidationError};
use packages_db::FileDetails;

use packages_api::auth::{credentials_in, credentials_of};
use packages_api::blocking;
use packages_api::body::RequestBody;
use packages_api::error::{ApiError, ApiResult};
use packages_api::registry::path::RegistryPath;
use packages_api::registry::Target;
use packages_api::state::AppState;
use packages_api::upload::{
    authorize_upload, claimed_digests, content_length, created, limit_errors, read_small_body,
    receive_body, store_small_upload, store_upload, UploadPlan,
};
use packages_api::write_mode::{WriteMode, PRECONDITION_FAILED};
use packages_db::FileLookup;
use packages_service::reads::Reads;

/// Bodies up to this size are read into memory and stored in one trip to the blocking pool;
/// larger ones stream to disk as they arrive.
const SMALL_BODY: u64 = 64 * 1024;

/// Uploads one file into a (possibly new) package version.
pub async fn upload(
    req: HttpRequest,
    payload: RequestBody,
    state: web::Data<AppState>,
    target: Target,
    file_name: String,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let announced = content_length(req.headers())?;
    let claimed = claimed_digests(req.headers())?;
    let mode = WriteMode::of(req.headers())?;
    let app = state.clone().into_inner();
    let body = payload;
    if let Some(len) = announced.filter(|&n| n <= SMALL_BODY) {
        // A small body costs nothing to read, so the duplicate check is left to the insert
        // and the checks before the body can run from cached reads on this worker.
        let quick = prepare_with(
            &Reads::cached_only(&app),
            credentials.clone(),
            &target,
            &file_name,
            announced,
            &mode,
            false,
        );
        let mut plan = match quick {
            Err(ApiError::WouldBlock) => {
                let app = app.clone();
                let mode = mode.clone();
                blocking::run(move || {
                    prepare_with(
                        &Reads::blocking(&app),
                        credentials,
                        &target,
                        &file_name,
                        announced,
                        &mode,
                        false,
                    )
                })
                .await?
            }
            other => other?,
        };
        plan.claimed = claimed;
        plan.mode = mode;
        let bytes = read_small_body(body, len as usize).await?;
        if (bytes.len() as u64) < len {
            return Err(ApiError::IncompleteBody);
        }
        let file_name = plan.file_name.clone();
        let stored = store_small_upload(app, plan, bytes).await?;
        return Ok(created(&req, &file_name, &stored));
    }
    let checked = mode.clone();
    let mut plan =
        blocking::run(move || prepare(&app, credentials, &target, &file_name, announced, &checked))
            .await?;
    plan.claimed = claimed;
    plan.mode = mode;
    let ingested = receive_body(&state, body, plan.body_limit).await?;
    let file_name = plan.file_name.clone();
    let stored = store_upload(state.into_inner(), plan, ingested).await?;
    Ok(created(&req, &file_name, &stored))
}

/// Everything that can refuse an upload before its body: credentials, owner, permission,
/// validation, limits against the announced size, an existing file. Blocking.
pub fn prepare(
    app: &AppState,
    credentials: Option<Credentials>,
    target: &Target,
    file_name: &str,
    announced: Option<u64>,
    mode: &WriteMode,
) -> ApiResult<UploadPlan> {
    prepare_with(
        &Reads::blocking(app),
        credentials,
        target,
        file_name,
        announced,
        mode,
        true,
    )
}

/// [`prepare`] through `reads`; `check_existing` looks for a file of the same name first
/// (and, for a replace, checks its content against the precondition).
fn prepare_with(
    reads: &Reads<'_>,
    credentials: Option<Credentials>,
    target: &Target,
    file_name: &str,
    announced: Option<u64>,
    mode: &WriteMode,
    check_existing: bool,
) -> ApiResult<UploadPlan> {
    let app = reads.state;
    let uploader = authorize_upload(reads, credentials, &target.owner)?;
    let (name, version, file) = validate_upload(&target.name, &target.version, file_name)?;
    if version.as_str() == super::manifest::RESERVED_VERSION {
        // `{name}/-/…` are the latest routes; a version `-` would make its files unreachable.
        return Err(ValidationError::PackageVersion.into());
    }
    if !uploader.is_admin && app.settings.limits.total_owner_size != Limit::None {
        // The remaining quota comes from the database.
        reads.need_blocking()?;
    }
    if matches!(mode, WriteMode::Replace(_)) {
        if !app.settings.allow_replace {
            return Err(ApiError::Forbidden("replacing files is not allowed"));
        }
        // The owner's own setting is read from the database, not the cache.
        reads.need_blocking()?;
        if !packages_api::write_mode::replace_allowed(app, uploader.owner_id)? {
            return Err(ApiError::Forbidden(
                "replacing files is not allowed in this namespace",
            ));
        }
    }
    let body_limit = limit_errors::body_limit(
        app,
        PackageType::Generic,
        uploader.owner_id,
        uploader.is_admin,
        announced,
    )?;
    let plan = UploadPlan {
        owner_id: uploader.owner_id,
        creator_id: uploader.creator_id,
        exempt_from_limits: uploader.is_admin,
        package_type: PackageType::Generic,
        details: FileDetails::plain(name.as_str()),
        name: name.into_inner(),
        version: version.into_inner(),
        file_name: file.into_inner(),
        body_limit,
        claimed: Vec::new(),
        mode: WriteMode::Create,
    };
    if check_existing {
        reads.need_blocking()?;
        if let WriteMode::Replace(_) = mode {
            let current = app.db.find_file(
                plan.owner_id,
                plan.package_type,
                &plan.details.lower_name,
                &plan.version,
                &plan.file_name,
            )?;
            let FileLookup::Found { blob, .. } = current else {
                return Err(ApiError::PreconditionFailed(PRECONDITION_FAILED));
            };
            if !mode.matches(&blob.hash_sha256) {
                return Err(ApiError::PreconditionFailed(PRECONDITION_FAILED));
            }
        } else if app.db.file_exists(
            plan.owner_id,
            plan.package_type,
            &plan.details.lower_name,
            &lower(&plan.version),
            &lower(&plan.file_name),
        )? {
            return Err(mode.exists_error());
        }
    }
    Ok(plan)
}

/// The pre-body checks of a `PUT` whose client waits for `100 Continue`. The headers are
/// read before the returned future, which owns everything it needs.
pub fn check_expectation(
    app: Arc<AppState>,
    headers: &HeaderMap,
    path: RegistryPath,
) -> LocalBoxFuture<'static, ApiResult<()>> {
    let mut rest = path.rest.into_iter();
    let (Some(name), Some(version), Some(file_name), None) =
        (rest.next(), rest.next(), rest.next(), rest.next())
    else {
        return Box::pin(async { Ok(()) });
    };
    // A malformed digest header is refused before the body is sent.
    let prechecks = credentials_in(headers).and_then(|c| {
        let announced = content_length(headers)?;
        claimed_digests(headers)?;
        Ok((c, announced, WriteMode::of(headers)?))
    });
    let target = Target {
        owner: path.owner,
        name,
        version,
    };
    Box::pin(async move {
        let (credentials, announced, mode) = prechecks?;
        blocking::run(move || {
            prepare(&app, credentials, &target, &file_name, announced, &mode).map(|_| ())
        })
        .await
    })
}

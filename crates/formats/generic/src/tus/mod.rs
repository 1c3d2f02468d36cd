//! Resumable uploads of generic files with the tus 1.0.0 protocol (core, creation,
//! creation-with-upload, termination, checksum and expiration).
//!
//! Routes (below `/api/packages/{owner}/generic/`):
//! - `OPTIONS {name}/{version}/{file}` and `OPTIONS -/uploads/{id}`: what the server speaks;
//! - `POST {name}/{version}/{file}` with `Upload-Length`: creates an upload of that file (201
//!   with its `Location`), checked like a `PUT` (credentials, permission, names, limits, an
//!   existing file);
//! - `HEAD -/uploads/{id}`: the offset reached; `PATCH -/uploads/{id}`: appends at the
//!   offset; `DELETE -/uploads/{id}`: abandons the upload.
//!
//! The upload's row ([`packages_db::ResumableUpload`]) and its content in the blob store's
//! pending area outlive the server process; the last byte publishes the file exactly as a
//! `PUT` does ([`packages_api::upload::record_stored`]). The `-` segment cannot start a package
//! name, so these URLs never name a file.

mod append;
mod headers;
pub(super) mod openapi;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use packages_core::clock::now_unix;

use actix_web::http::header::{self, HttpDate};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use packages_core::{Limit, PackageType};
use packages_db::ResumableUpload;

use packages_api::auth::credentials_of;
use packages_api::blocking;
use packages_api::body::RequestBody;
use packages_api::error::{ApiError, ApiResult};
use packages_api::registry::Target;
use packages_api::state::AppState;
use packages_api::upload::{authorize_upload, limit_errors};
use packages_api::write_mode::WriteMode;
use packages_service::reads::Reads;

use headers::Checksum;
pub use headers::TUS_VERSION;

/// The path segment after `-` that names the upload routes.
pub const UPLOADS: &str = "uploads";

pub const UPLOAD_METHODS: &[Method] =
    &[Method::HEAD, Method::PATCH, Method::DELETE, Method::OPTIONS];

const NOT_FOUND: &str = "upload not found";

/// Runs a tus handler and puts `Tus-Resumable` on its answer, errors included.
pub async fn respond(result: ApiResult<HttpResponse>) -> ApiResult<HttpResponse> {
    let mut response = match result {
        Ok(r) => r,
        Err(e @ (ApiError::WouldBlock | ApiError::NoRoute)) => return Err(e),
        Err(e) => e.error_response(),
    };
    response.headers_mut().insert(
        header::HeaderName::from_static("tus-resumable"),
        header::HeaderValue::from_static(TUS_VERSION),
    );
    Ok(response)
}

/// `OPTIONS`: the version, extensions, size limit and checksum algorithms (no
/// `Tus-Resumable`, as the protocol says).
pub fn options(state: &AppState) -> HttpResponse {
    let mut builder = HttpResponse::NoContent();
    builder
        .insert_header(("Tus-Version", TUS_VERSION))
        .insert_header(("Tus-Extension", headers::EXTENSIONS))
        .insert_header(("Tus-Checksum-Algorithm", headers::CHECKSUM_ALGORITHMS));
    if let Limit::AtMost(max) = state.settings.limits.size_of(PackageType::Generic) {
        builder.insert_header(("Tus-Max-Size", max.to_string()));
    }
    builder.finish()
}

fn tus(status: StatusCode) -> HttpResponseBuilder {
    HttpResponse::build(status)
}

fn expires_header(expires_unix: i64) -> HttpDate {
    HttpDate::from(UNIX_EPOCH + Duration::from_secs(expires_unix.max(0) as u64))
}

/// The URL of upload `id` of `owner`.
fn upload_path(owner: &str, id: &str) -> String {
    format!(
        "{}/{}/generic/-/{UPLOADS}/{id}",
        packages_api::registry::path::PREFIX,
        packages_api::urls::path_escape(owner)
    )
}

/// `POST {name}/{version}/{file}`: creates an upload, and with a body
/// (creation-with-upload) appends it at once.
pub async fn create(
    req: HttpRequest,
    payload: RequestBody,
    state: web::Data<AppState>,
    target: Target,
    file_name: String,
) -> ApiResult<HttpResponse> {
    let _in_progress = state.metrics.upload_started();
    headers::check_version(req.headers())?;
    let length = headers::upload_length(req.headers())?;
    let metadata = headers::upload_metadata(req.headers())?;
    let with_body = headers::has_body(req.headers())?;
    let checksum = if with_body {
        Checksum::of(req.headers())?
    } else {
        None
    };
    let credentials = credentials_of(&req)?;
    let app = state.clone().into_inner();
    let owner = target.owner.clone();
    let upload = blocking::run(move || {
        let plan = crate::upload::prepare(
            &app,
            credentials,
            &target,
            &file_name,
            Some(length),
            &WriteMode::Create,
        )
        .map_err(|e| match e {
            // The protocol's answer to an upload larger than the server takes.
            ApiError::Forbidden(limit_errors::TYPE_SIZE) => {
                ApiError::PayloadTooLarge(limit_errors::TYPE_SIZE)
            }
            other => other,
        })?;
        let id = new_id()?;
        let store_state = app.store.resumable_create(&id)?;
        let now = now_unix();
        let expiry = app
            .settings
            .resumable_expiry
            .as_secs()
            .min(i64::MAX as u64 / 2) as i64;
        let upload = ResumableUpload {
            id: id.clone(),
            owner_id: plan.owner_id,
            creator_id: plan.creator_id,
            exempt_from_limits: plan.exempt_from_limits,
            package_name: plan.name,
            package_version: plan.version,
            file_name: plan.file_name,
            upload_length: length as i64,
            upload_offset: 0,
            metadata,
            store_state,
            lease: None,
            lease_until: None,
            created_unix: now,
            expires_unix: now.saturating_add(expiry),
            package_type: PackageType::Generic.as_str().to_owned(),
        };
        if let Err(e) = app.db.create_resumable(&upload) {
            if let Err(a) = app.store.resumable_abort(&upload.id, &upload.store_state) {
                log::warn!("could not remove the content of an upload never recorded: {a}");
            }
            return Err(e.into());
        }
        Ok(upload)
    })
    .await?;
    let location = packages_api::urls::absolute(&req, &upload_path(&owner, &upload.id));
    let mut offset = 0;
    if with_body || length == 0 {
        let body = payload;
        offset = append::append(
            state.clone().into_inner(),
            upload.clone(),
            0,
            checksum,
            body,
        )
        .await?;
    }
    Ok(tus(StatusCode::CREATED)
        .insert_header((header::LOCATION, location))
        .insert_header(("Upload-Offset", offset.to_string()))
        .insert_header(("Upload-Expires", expires_header(upload.expires_unix)))
        .finish())
}

use packages_api::resumable::new_id;

/// The upload `id` of `owner` when the caller may write to it: it must be allowed to upload
/// to the owner's packages. Everyone else learns nothing about the upload (404 whether it
/// exists or not; 401 asks anonymous callers to sign in whatever the id). Blocking.
fn authorized(
    app: &AppState,
    req_credentials: Option<forge_auth::Credentials>,
    owner: &str,
    id: &str,
) -> ApiResult<ResumableUpload> {
    let signed_in = req_credentials.is_some();
    let uploader =
        authorize_upload(&Reads::blocking(app), req_credentials, owner).map_err(|e| {
            match e {
                // Valid credentials without write access: the same answer as an unknown id.
                ApiError::Forbidden(_) | ApiError::NotFound(_) => ApiError::NotFound(NOT_FOUND),
                ApiError::Unauthorized(_) if signed_in => ApiError::NotFound(NOT_FOUND),
                other => other,
            }
        })?;
    if !packages_core::blob_store::is_resumable_id(id) {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    let upload = app
        .db
        .resumable(id)?
        .filter(|u| {
            u.owner_id == uploader.owner_id && u.package_type == PackageType::Generic.as_str()
        })
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    if upload.expires_unix <= now_unix() {
        return Err(ApiError::Gone("upload expired"));
    }
    Ok(upload)
}

/// `HEAD`, `PATCH`, `DELETE` and `OPTIONS` of `-/uploads/{id}`.
pub async fn upload_route(
    req: HttpRequest,
    payload: RequestBody,
    state: web::Data<AppState>,
    owner: String,
    id: String,
) -> ApiResult<HttpResponse> {
    if req.method() == Method::OPTIONS {
        return Ok(options(&state));
    }
    if !matches!(*req.method(), Method::HEAD | Method::PATCH | Method::DELETE) {
        return Err(ApiError::MethodNotAllowed(UPLOAD_METHODS));
    }
    respond(upload_request(req, payload, state, owner, id).await).await
}

async fn upload_request(
    req: HttpRequest,
    payload: RequestBody,
    state: web::Data<AppState>,
    owner: String,
    id: String,
) -> ApiResult<HttpResponse> {
    headers::check_version(req.headers())?;
    let credentials = credentials_of(&req)?;
    let app = state.clone().into_inner();
    match *req.method() {
        Method::HEAD => {
            let upload = blocking::run(move || authorized(&app, credentials, &owner, &id)).await?;
            let mut builder = tus(StatusCode::OK);
            builder
                .insert_header(("Upload-Offset", upload.upload_offset.to_string()))
                .insert_header(("Upload-Length", upload.upload_length.to_string()))
                .insert_header(("Upload-Expires", expires_header(upload.expires_unix)))
                .insert_header((header::CACHE_CONTROL, "no-store"));
            if !upload.metadata.is_empty() {
                builder.insert_header(("Upload-Metadata", upload.metadata));
            }
            Ok(builder.finish())
        }
        Method::PATCH => {
            let _in_progress = state.metrics.upload_started();
            if !headers::is_offset_octet_stream(req.headers()) {
                return Err(ApiError::UnsupportedMediaType(
                    "PATCH takes Content-Type: application/offset+octet-stream",
                ));
            }
            let offset = headers::upload_offset(req.headers())?;
            let checksum = Checksum::of(req.headers())?;
            let announced = packages_api::upload::content_length(req.headers())?;
            let upload = blocking::run(move || authorized(&app, credentials, &owner, &id)).await?;
            if let Some(len) = announced {
                if offset.saturating_add(len) > upload.upload_length as u64 {
                    return Err(ApiError::PayloadTooLarge(append::PAST_LENGTH));
                }
            }
            let (expires, length) = (upload.expires_unix, upload.upload_length as u64);
            let body = payload;
            let offset = append::append(state.into_inner(), upload, offset, checksum, body).await?;
            let mut builder = tus(StatusCode::NO_CONTENT);
            builder.insert_header(("Upload-Offset", offset.to_string()));
            if offset < length {
                builder.insert_header(("Upload-Expires", expires_header(expires)));
            }
            Ok(builder.finish())
        }
        _ => {
            blocking::run(move || terminate(&app, credentials, &owner, &id)).await?;
            Ok(tus(StatusCode::NO_CONTENT).finish())
        }
    }
}

/// Termination: removes the content and the row, unless a request is writing to it.
fn terminate(
    app: &AppState,
    credentials: Option<forge_auth::Credentials>,
    owner: &str,
    id: &str,
) -> ApiResult<()> {
    let upload = match authorized(app, credentials, owner, id) {
        Err(ApiError::Gone(_)) => app.db.resumable(id)?.ok_or(ApiError::NotFound(NOT_FOUND))?,
        other => other?,
    };
    let (upload, token) =
        packages_api::resumable::take_lease(app, &upload.id, None, ApiError::NotFound(NOT_FOUND))
            .map_err(|e| match e {
            ApiError::Conflict(_) => ApiError::Locked(append::BUSY),
            other => other,
        })?;
    remove(app, &upload, &token)
}

pub use packages_api::resumable::remove;

/// Lets [`append`] reach the state it needs from a plain `Arc`.
pub(crate) type App = Arc<AppState>;

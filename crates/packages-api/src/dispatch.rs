//! The entry point of `/api/packages/{owner}/{type}/…`: parses the path, finds the
//! registered format of that type and hands it the request, with the intake every format
//! gets (the idle timeout on the body, the uploads gauge).

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::body::RequestBody;
use crate::error::{ApiError, ApiResult};
use crate::registry::path;
use crate::state::AppState;

/// Handles every request under `/api/packages`.
pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let parsed = path::parse(req.uri().path())?;
    let format = state
        .formats
        .find(&parsed.package_type)
        .ok_or(ApiError::NoRoute)?;
    let (_uploading, body) = intake(&req, payload, &state)?;
    format.handle(req, body, state, parsed).await
}

/// Handles every request below a format's own prefix ([`crate::Format::mount`]).
pub async fn mounted(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let format = state
        .formats
        .mounted_at(req.uri().path())
        .ok_or(ApiError::NoRoute)?;
    let (_uploading, body) = intake(&req, payload, &state)?;
    format.handle_mounted(req, body, state).await
}

/// An upload in progress: its slot and its count in the metrics, while it lives.
type Uploading = Option<(crate::state::UploadSlot, crate::metrics::UploadGuard)>;

/// Every format's requests get the same intake: a request that sends content takes an upload
/// slot (503 before its body is read when none is free) and counts as an upload in progress,
/// and its body is cut when it stalls.
fn intake(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> ApiResult<(Uploading, RequestBody)> {
    let uploading = if matches!(*req.method(), Method::PUT | Method::POST | Method::PATCH) {
        let slot = state
            .uploads
            .try_take()
            .ok_or_else(crate::state::too_many_uploads)?;
        Some((slot, state.metrics.upload_started()))
    } else {
        None
    };
    Ok((
        uploading,
        RequestBody::new(payload, state.settings.idle_timeout),
    ))
}

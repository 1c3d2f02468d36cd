//! The package registry surface, `/api/packages/{owner}/{type}/…`: one entry point that
//! parses the path and hands the request to the registered format of that type
//! ([`crate::formats`]). A format's handlers call [`crate::request::set_route`] with the route
//! template, which metrics and the access log group requests by.

pub mod path;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::body::RequestBody;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The package a request names, decoded but not yet validated.
#[derive(Debug, Clone)]
pub struct Target {
    pub owner: String,
    pub name: String,
    pub version: String,
}

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
    // Every format's requests get the same intake: a request that sends content counts as
    // an upload in progress, and its body is cut when it stalls.
    let _uploading = matches!(*req.method(), Method::PUT | Method::POST | Method::PATCH)
        .then(|| state.metrics.upload_started());
    let body = RequestBody::new(payload, state.settings.idle_timeout);
    format.handle(req, body, state, parsed).await
}

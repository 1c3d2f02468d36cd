//! The package registry surface, `/api/packages/{owner}/{type}/…`: one entry point that
//! parses the path and hands the request to the module of the package format.
//!
//! A new format is a module beside `generic` plus one arm in [`dispatch`]; its handlers call
//! [`crate::request::set_route`] with the route template, which metrics and the access log
//! group requests by.

pub mod path;

use actix_web::{web, HttpRequest, HttpResponse};
use packages_core::PackageType;

use crate::error::{ApiError, ApiResult};
use crate::generic;
use crate::state::AppState;

/// Handles every request under `/api/packages`.
pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let parsed = path::parse(req.uri().path())?;
    let package_type: PackageType = parsed.package_type.parse().map_err(|_| ApiError::NoRoute)?;
    match package_type {
        PackageType::Generic => generic::handle(req, payload, state, parsed).await,
    }
}

//! The generic package format: arbitrary files under `{name}/{version}/{file}`.
//!
//! Routes (below `/api/packages/{owner}/generic/`):
//! - `PUT {name}/{version}/{file}` uploads a file (201);
//! - `GET`/`HEAD {name}/{version}/{file}` downloads it;
//! - `DELETE {name}/{version}/{file}` deletes one file (the version goes with its last file);
//! - `DELETE {name}/{version}` deletes a version with all its files.

mod delete;
mod download;
pub mod upload;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::{ApiError, ApiResult};
use crate::registry::path::RegistryPath;
use crate::state::AppState;

const FILE_METHODS: &[Method] = &[Method::GET, Method::HEAD, Method::PUT, Method::DELETE];
const VERSION_METHODS: &[Method] = &[Method::DELETE];

/// The parts of a generic URL, decoded but not yet validated.
#[derive(Debug, Clone)]
pub struct Target {
    pub owner: String,
    pub name: String,
    pub version: String,
}

/// Routes a request for the generic format by the shape of its path and its method.
pub async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    path: RegistryPath,
) -> ApiResult<HttpResponse> {
    let RegistryPath { owner, rest, .. } = path;
    let mut rest = rest.into_iter();
    match (rest.next(), rest.next(), rest.next(), rest.next()) {
        (Some(name), Some(version), Some(file), None) => {
            let target = Target {
                owner,
                name,
                version,
            };
            match *req.method() {
                Method::PUT => upload::upload(req, payload, state, target, file).await,
                Method::GET => download::download(req, state, target, file, false).await,
                Method::HEAD => download::download(req, state, target, file, true).await,
                Method::DELETE => delete::delete_file(req, state, target, file).await,
                _ => Err(ApiError::MethodNotAllowed(FILE_METHODS)),
            }
        }
        (Some(name), Some(version), None, None) => {
            let target = Target {
                owner,
                name,
                version,
            };
            match *req.method() {
                Method::DELETE => delete::delete_version(req, state, target).await,
                _ => Err(ApiError::MethodNotAllowed(VERSION_METHODS)),
            }
        }
        _ => Err(ApiError::NoRoute),
    }
}

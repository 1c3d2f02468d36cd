//! The generic package format: arbitrary files under `{name}/{version}/{file}`.
//!
//! Routes (below `/api/packages/{owner}/generic/`):
//! - `PUT {name}/{version}/{file}` uploads a file (201);
//! - `GET`/`HEAD {name}/{version}/{file}` downloads it;
//! - `DELETE {name}/{version}/{file}` deletes one file (the version goes with its last file);
//! - `DELETE {name}/{version}` deletes a version with all its files;
//! - `GET`/`HEAD {name}/{version}`, `{name}/{version}/-/SHA256SUMS`, `{name}/-/latest` and
//!   `{name}/-/latest/{file}`: generated documents and the stable latest URLs ([`manifest`]).

mod delete;
mod download;
pub mod manifest;
pub mod upload;

use manifest::RESERVED_VERSION;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::{ApiError, ApiResult};
use crate::registry::path::RegistryPath;
use crate::state::AppState;

const FILE_METHODS: &[Method] = &[Method::GET, Method::HEAD, Method::PUT, Method::DELETE];
const VERSION_METHODS: &[Method] = &[Method::GET, Method::HEAD, Method::DELETE];
const DOCUMENT_METHODS: &[Method] = &[Method::GET, Method::HEAD];

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
    let head = *req.method() == Method::HEAD;
    let read_only = |req: &HttpRequest| {
        if matches!(*req.method(), Method::GET | Method::HEAD) {
            Ok(())
        } else {
            Err(ApiError::MethodNotAllowed(DOCUMENT_METHODS))
        }
    };
    match (
        rest.next(),
        rest.next(),
        rest.next(),
        rest.next(),
        rest.next(),
    ) {
        (Some(name), Some(dash), Some(latest), file, None)
            if dash == RESERVED_VERSION && latest == "latest" =>
        {
            read_only(&req)?;
            crate::request::set_route(if file.is_some() {
                "/api/packages/{owner}/generic/{name}/-/latest/{file}"
            } else {
                "/api/packages/{owner}/generic/{name}/-/latest"
            });
            let target = Target {
                owner,
                name,
                version: dash,
            };
            match file {
                None => manifest::manifest(req, state, target, true, head).await,
                Some(file) => manifest::latest_file(req, state, target, file).await,
            }
        }
        (Some(name), Some(version), Some(dash), Some(sums), None)
            if dash == RESERVED_VERSION && sums == "SHA256SUMS" =>
        {
            read_only(&req)?;
            crate::request::set_route(
                "/api/packages/{owner}/generic/{name}/{version}/-/SHA256SUMS",
            );
            let target = Target {
                owner,
                name,
                version,
            };
            manifest::sha256sums(req, state, target, head).await
        }
        (Some(name), Some(version), Some(file), None, None) => {
            crate::request::set_route("/api/packages/{owner}/generic/{name}/{version}/{file}");
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
        (Some(name), Some(version), None, None, None) => {
            crate::request::set_route("/api/packages/{owner}/generic/{name}/{version}");
            let target = Target {
                owner,
                name,
                version,
            };
            match *req.method() {
                Method::GET | Method::HEAD => {
                    manifest::manifest(req, state, target, false, head).await
                }
                Method::DELETE => delete::delete_version(req, state, target).await,
                _ => Err(ApiError::MethodNotAllowed(VERSION_METHODS)),
            }
        }
        _ => Err(ApiError::NoRoute),
    }
}

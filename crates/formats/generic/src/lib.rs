//! The generic package format: arbitrary files under `{name}/{version}/{file}`.
//!
//! Routes (below `/api/packages/{owner}/generic/`):
//! - `PUT {name}/{version}/{file}` uploads a file (201);
//! - `GET`/`HEAD {name}/{version}/{file}` downloads it;
//! - `DELETE {name}/{version}/{file}` deletes one file (the version goes with its last file);
//! - `DELETE {name}/{version}` deletes a version with all its files;
//! - `GET`/`HEAD {name}/{version}`, `{name}/{version}/-/SHA256SUMS`, `{name}/-/latest` and
//!   `{name}/-/latest/{file}`: generated documents and the stable latest URLs ([`manifest`]);
//! - `POST`/`OPTIONS {name}/{version}/{file}` and `HEAD`/`PATCH`/`DELETE`/`OPTIONS
//!   -/uploads/{id}`: resumable uploads with the tus protocol ([`tus`]).
//!
//! Its rules (names, versions, file names) are `crate::rules`.

pub mod manifest;
mod openapi;
pub mod rules;
pub mod tus;
pub mod upload;

use std::sync::Arc;

use manifest::RESERVED_VERSION;

pub use crate::rules::Generic;
use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;

use packages_api::body::RequestBody;
use packages_api::error::{ApiError, ApiResult};
use packages_api::files;
use packages_api::formats::{Format, Route};
use packages_api::registry::path::RegistryPath;
use packages_api::registry::Target;
use packages_api::state::AppState;
use packages_api::urls::path_escape;

const FILE_METHODS: &[Method] = &[
    Method::GET,
    Method::HEAD,
    Method::PUT,
    Method::DELETE,
    Method::POST,
    Method::OPTIONS,
];
const VERSION_METHODS: &[Method] = &[Method::GET, Method::HEAD, Method::DELETE];
const DOCUMENT_METHODS: &[Method] = &[Method::GET, Method::HEAD];

/// A file of a version.
pub const FILE: Route = Route {
    template: "/api/packages/{owner}/generic/{name}/{version}/{file}",
    methods: FILE_METHODS,
};
/// A version: its manifest, or all its files for a delete.
pub const VERSION: Route = Route {
    template: "/api/packages/{owner}/generic/{name}/{version}",
    methods: VERSION_METHODS,
};
/// The checksum list of a version.
pub const SUMS: Route = Route {
    template: "/api/packages/{owner}/generic/{name}/{version}/-/SHA256SUMS",
    methods: DOCUMENT_METHODS,
};
/// The newest version's manifest.
pub const LATEST: Route = Route {
    template: "/api/packages/{owner}/generic/{name}/-/latest",
    methods: DOCUMENT_METHODS,
};
/// A file of the newest version.
pub const LATEST_FILE: Route = Route {
    template: "/api/packages/{owner}/generic/{name}/-/latest/{file}",
    methods: DOCUMENT_METHODS,
};
/// A resumable (tus) upload in progress.
pub const UPLOAD: Route = Route {
    template: "/api/packages/{owner}/generic/-/uploads/{id}",
    methods: tus::UPLOAD_METHODS,
};
const ROUTES: &[Route] = &[FILE, VERSION, SUMS, LATEST, LATEST_FILE, UPLOAD];

impl Format for Generic {
    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn openapi(&self) -> utoipa::openapi::Paths {
        openapi::paths()
    }

    fn openapi_schemas(&self) -> packages_api::formats::Schemas {
        use utoipa::{PartialSchema, ToSchema};
        let mut schemas = vec![(
            manifest::Manifest::name().into_owned(),
            manifest::Manifest::schema(),
        )];
        manifest::Manifest::schemas(&mut schemas);
        schemas
    }

    fn handle(
        &'static self,
        req: HttpRequest,
        payload: RequestBody,
        state: web::Data<AppState>,
        path: RegistryPath,
    ) -> LocalBoxFuture<'static, ApiResult<HttpResponse>> {
        Box::pin(handle(self, req, payload, state, path))
    }

    fn expect_continue(
        &'static self,
        state: Arc<AppState>,
        method: &Method,
        headers: &HeaderMap,
        path: RegistryPath,
    ) -> LocalBoxFuture<'static, ApiResult<()>> {
        if method != Method::PUT {
            return Box::pin(async { Ok(()) });
        }
        upload::check_expectation(state, headers, path)
    }

    fn download_path(&self, owner: &str, name: &str, version: &str, file: &str) -> Option<String> {
        Some(format!(
            "/api/packages/{}/generic/{}/{}/{}",
            path_escape(owner),
            path_escape(name),
            path_escape(version),
            path_escape(file)
        ))
    }
}

/// The path of a file's download URL, each segment escaped.
pub fn file_url_path(owner: &str, name: &str, version: &str, file_name: &str) -> String {
    use packages_api::urls::path_escape;
    format!(
        "{}/{}/generic/{}/{}/{}",
        packages_api::registry::path::PREFIX,
        path_escape(owner),
        path_escape(name),
        path_escape(version),
        path_escape(file_name)
    )
}

/// Routes a request for the generic format by the shape of its path and its method.
async fn handle(
    format: &'static Generic,
    req: HttpRequest,
    payload: RequestBody,
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
        (Some(dash), Some(uploads), Some(id), None, None)
            if dash == RESERVED_VERSION && uploads == tus::UPLOADS =>
        {
            packages_api::request::set_route(UPLOAD.template);
            tus::upload_route(req, payload, state, owner, id).await
        }
        (Some(name), Some(dash), Some(latest), file, None)
            if dash == RESERVED_VERSION && latest == "latest" =>
        {
            read_only(&req)?;
            packages_api::request::set_route(if file.is_some() {
                LATEST_FILE.template
            } else {
                LATEST.template
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
            packages_api::request::set_route(SUMS.template);
            let target = Target {
                owner,
                name,
                version,
            };
            manifest::sha256sums(req, state, target, head).await
        }
        (Some(name), Some(version), Some(file), None, None) => {
            packages_api::request::set_route(FILE.template);
            let target = Target {
                owner,
                name,
                version,
            };
            match *req.method() {
                Method::PUT => upload::upload(req, payload, state, target, file).await,
                Method::GET => files::download(req, state, format, target, file, false).await,
                Method::HEAD => files::download(req, state, format, target, file, true).await,
                Method::DELETE => files::delete_file(req, state, format, target, file).await,
                // Only a tus request creates an upload; any other POST stays refused.
                Method::POST if req.headers().contains_key("tus-resumable") => {
                    let created = tus::create(req, payload, state, target, file).await;
                    tus::respond(created).await
                }
                Method::OPTIONS => Ok(tus::options(&state)),
                _ => Err(ApiError::MethodNotAllowed(FILE_METHODS)),
            }
        }
        (Some(name), Some(version), None, None, None) => {
            packages_api::request::set_route(VERSION.template);
            let target = Target {
                owner,
                name,
                version,
            };
            match *req.method() {
                Method::GET | Method::HEAD => {
                    manifest::manifest(req, state, target, false, head).await
                }
                Method::DELETE => files::delete_version(req, state, format, target).await,
                _ => Err(ApiError::MethodNotAllowed(VERSION_METHODS)),
            }
        }
        _ => Err(ApiError::NoRoute),
    }
}

//! The PyPI format, at the reference registry's URLs (below `/api/packages/{owner}/pypi`):
//! - `POST /` uploads a distribution with the legacy upload form twine and uv send (201;
//!   400 for a bad form, name, version, file name or digest; 409 when the file exists);
//! - `GET simple/` lists the owner's projects, `GET simple/{name}` a project's files
//!   (PEP 503 HTML, or PEP 691 JSON when the `Accept` header asks for it), with PEP 658/714
//!   core metadata announced for wheels;
//! - `GET`/`HEAD files/{name}/{version}/{file}` downloads a file (ranges, conditionals,
//!   counted), and `…/{file}.metadata` a wheel's core metadata.
//!
//! Deletes and listings go through `/api/v1/packages/{owner}/pypi/…` like every format. Its
//! rules (PEP 503 names, PEP 440 versions, file names) are `crate::rules`.

pub mod rules;

mod index;
mod openapi;
mod upload;

use std::sync::Arc;

use crate::rules::Metadata;
pub use crate::rules::Pypi;
use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use packages_core::{lower, AccessMode, FormatRules};
use packages_db::{FileLookup, PropertyOf};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

use packages_api::auth::{authenticate, credentials_in, credentials_of};
use packages_api::blocking;
use packages_api::body::RequestBody;
use packages_api::error::{ApiError, ApiResult};
use packages_api::files;
use packages_api::formats::{Format, Route};
use packages_api::registry::path::RegistryPath;
use packages_api::registry::Target;
use packages_api::state::AppState;
use packages_service::access::authorize_owner;

/// File property: a wheel's core metadata (its `METADATA`), kept at upload.
pub const CORE_METADATA: &str = "pypi.core_metadata";
/// File property: the SHA-256 of [`CORE_METADATA`], announced in the index.
pub const CORE_METADATA_SHA256: &str = "pypi.core_metadata_sha256";
/// The PEP 691 JSON media type.
pub const JSON_TYPE: &str = "application/vnd.pypi.simple.v1+json";
/// What a path segment in a link is encoded with: everything but unreserved characters.
pub const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'+')
    .remove(b'!');

const UPLOAD_METHODS: &[Method] = &[Method::POST];
const READ_METHODS: &[Method] = &[Method::GET, Method::HEAD];

/// The upload form.
const UPLOAD: Route = Route {
    template: "/api/packages/{owner}/pypi",
    methods: UPLOAD_METHODS,
};
/// The owner's project list.
const PROJECTS: Route = Route {
    template: "/api/packages/{owner}/pypi/simple/",
    methods: READ_METHODS,
};
/// A project's files.
const PROJECT: Route = Route {
    template: "/api/packages/{owner}/pypi/simple/{name}",
    methods: READ_METHODS,
};
/// A file, or a wheel's core metadata at `{file}.metadata`.
const FILE: Route = Route {
    template: "/api/packages/{owner}/pypi/files/{name}/{version}/{file}",
    methods: READ_METHODS,
};
const ROUTES: &[Route] = &[UPLOAD, PROJECTS, PROJECT, FILE];

impl Format for Pypi {
    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn openapi(&self) -> utoipa::openapi::Paths {
        openapi::paths()
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
        if method != Method::POST || !path.rest.is_empty() {
            return Box::pin(async { Ok(()) });
        }
        let checks = upload::check_form_type(headers).and_then(|()| credentials_in(headers));
        Box::pin(async move {
            let credentials = checks?;
            blocking::run(move || upload::prepare(&state, credentials, &path.owner).map(|_| ()))
                .await
        })
    }

    fn download_path(&self, owner: &str, name: &str, version: &str, file: &str) -> Option<String> {
        Some(format!(
            "{}/files/{}/{}/{}",
            index::registry_path(owner),
            index::seg(name),
            index::seg(version),
            index::seg(file)
        ))
    }

    /// pip resolves through the owner's simple index, so the page offers that command.
    fn install_commands(
        &self,
        base_url: &str,
        owner: &str,
        name: &str,
        version: &str,
    ) -> Vec<(&'static str, String)> {
        vec![(
            "Install with pip",
            format!(
                "pip install --index-url {base_url}{}/simple/ '{name}=={version}'",
                index::registry_path(owner)
            ),
        )]
    }

    fn metadata_fields(&self, metadata_json: Option<&str>) -> Vec<(&'static str, String)> {
        let m: Metadata = metadata_json
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        [
            ("Summary", m.summary),
            ("Author", m.author),
            ("License", m.license),
            ("Home page", m.project_url),
            ("Requires Python", m.requires_python),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }
}

async fn handle(
    format: &'static Pypi,
    req: HttpRequest,
    payload: RequestBody,
    state: web::Data<AppState>,
    path: RegistryPath,
) -> ApiResult<HttpResponse> {
    let RegistryPath { owner, rest, .. } = path;
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let head = *req.method() == Method::HEAD;
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let route = match rest.as_slice() {
        [] => Some(UPLOAD),
        ["simple"] => Some(PROJECTS),
        ["simple", _] => Some(PROJECT),
        ["files", _, _, _] => Some(FILE),
        _ => None,
    };
    if let Some(route) = route {
        packages_api::request::set_route(route.template);
    }
    match rest.as_slice() {
        [] => match *req.method() {
            Method::POST => upload::upload(req, payload, state, owner).await,
            _ => Err(ApiError::MethodNotAllowed(UPLOAD_METHODS)),
        },
        _ if !read => Err(ApiError::MethodNotAllowed(READ_METHODS)),
        ["simple"] => index::projects(req, state, owner).await,
        ["simple", name] => index::project(req, state, owner, (*name).to_owned()).await,
        ["files", name, version, file] => {
            let target = Target {
                owner,
                name: (*name).to_owned(),
                version: (*version).to_owned(),
            };
            match file.strip_suffix(".metadata") {
                Some(wheel) if lower(wheel).ends_with(".whl") => {
                    core_metadata(req, state, target, wheel.to_owned()).await
                }
                _ => files::download(req, state, format, target, (*file).to_owned(), head).await,
            }
        }
        _ => Err(ApiError::NoRoute),
    }
}

/// `GET files/{name}/{version}/{wheel}.metadata`: the wheel's core metadata (PEP 658).
async fn core_metadata(
    req: HttpRequest,
    state: web::Data<AppState>,
    target: Target,
    wheel: String,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    let text = blocking::run(move || {
        let auth = authenticate(&state, credentials)?;
        let owner = authorize_owner(&state, &auth, &target.owner, AccessMode::Read)?.owner;
        let lookup = state.db.find_file(
            owner.id,
            Pypi.package_type(),
            &Pypi.lookup_name(&target.name),
            &lower(&target.version),
            &lower(&wheel),
        )?;
        let FileLookup::Found { file, .. } = lookup else {
            return Err(ApiError::NotFound("package file does not exist"));
        };
        state
            .db
            .properties_named(PropertyOf::File, &[file.id], Some(CORE_METADATA))?
            .into_iter()
            .next()
            .map(|(_, _, text)| text)
            .ok_or(ApiError::NotFound("package file has no core metadata"))
    })
    .await?;
    // actix answers HEAD with the body's length and without the body.
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(text))
}

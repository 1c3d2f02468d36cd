//! The container image format: an OCI Distribution 1.1 registry at the reference registry's
//! URLs, everything below `/v2` of the host (this format's [`Format::mount`]).
//!
//! - `GET /v2/` and the token login (`GET /v2/token`, [`auth`]);
//! - blob uploads in every shape, sessions that continue on any instance ([`uploads`]);
//! - blobs by digest ([`blobs`]), manifests by tag or digest ([`manifests`], [`manifest`]);
//! - tags, `_catalog` and OCI 1.1 referrers ([`listing`]).
//!
//! An image `{owner}/{image}` is a package of type `container` of the owner, named by the
//! image; each tag is a version. Permissions, visibility, limits, `/api/v1/packages` and the
//! sweep are the registry's as for every format. Errors are the distribution spec's
//! ([`errors`]).

pub mod auth;
pub mod blobs;
pub mod errors;
pub mod listing;
pub mod manifest;
pub mod manifests;
pub mod names;
mod openapi;
pub mod uploads;

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use packages_api::blocking;
use packages_api::body::RequestBody;
use packages_api::error::{ApiError, ApiResult};
use packages_api::formats::{Format, Route};
use packages_api::registry::path::RegistryPath;
use packages_api::state::AppState;
use packages_core::{FormatRules, PackageType, Staging};
use packages_service::auth::AuthContext;

use crate::auth::Caller;
use crate::errors::{OciError, OciResult};
use crate::names::NoRoute;

/// The container image format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Container;

/// The type name, as the reference registry's.
pub const CONTAINER: PackageType = PackageType::new("container");

impl FormatRules for Container {
    fn package_type(&self) -> PackageType {
        CONTAINER
    }

    /// Blobs wait in the `_upload` version until a manifest references them.
    fn staging(&self) -> Option<Staging> {
        Some(Staging {
            version: uploads::UPLOAD_VERSION,
            keeps_property: manifests::SUBJECT,
        })
    }
}

const ANY: &[Method] = &[Method::GET, Method::HEAD];
const BLOB_METHODS: &[Method] = &[Method::GET, Method::HEAD, Method::DELETE];
const MANIFEST_METHODS: &[Method] = &[Method::GET, Method::HEAD, Method::PUT, Method::DELETE];
const SESSION_METHODS: &[Method] = &[Method::GET, Method::PATCH, Method::PUT, Method::DELETE];

pub(crate) const BASE: Route = Route {
    template: "/v2/",
    methods: ANY,
};
pub(crate) const TOKEN: Route = Route {
    template: "/v2/token",
    methods: ANY,
};
pub(crate) const CATALOG: Route = Route {
    template: "/v2/_catalog",
    methods: &[Method::GET],
};
pub(crate) const TAGS: Route = Route {
    template: "/v2/{name}/tags/list",
    methods: &[Method::GET],
};
pub(crate) const MANIFEST: Route = Route {
    template: "/v2/{name}/manifests/{reference}",
    methods: MANIFEST_METHODS,
};
pub(crate) const BLOB: Route = Route {
    template: "/v2/{name}/blobs/{digest}",
    methods: BLOB_METHODS,
};
pub(crate) const UPLOADS: Route = Route {
    template: "/v2/{name}/blobs/uploads/",
    methods: &[Method::POST],
};
pub(crate) const UPLOAD: Route = Route {
    template: "/v2/{name}/blobs/uploads/{uuid}",
    methods: SESSION_METHODS,
};
pub(crate) const REFERRERS: Route = Route {
    template: "/v2/{name}/referrers/{digest}",
    methods: &[Method::GET],
};
const ROUTES: &[Route] = &[
    BASE, TOKEN, CATALOG, TAGS, MANIFEST, BLOB, UPLOADS, UPLOAD, REFERRERS,
];

impl Format for Container {
    fn routes(&self) -> &'static [Route] {
        ROUTES
    }

    fn openapi(&self) -> utoipa::openapi::Paths {
        openapi::paths()
    }

    fn openapi_schemas(&self) -> packages_api::formats::Schemas {
        openapi::schemas()
    }

    fn mount(&self) -> Option<&'static str> {
        Some("/v2")
    }

    /// Nothing of this format lives below `/api/packages`.
    fn handle(
        &'static self,
        _req: HttpRequest,
        _body: RequestBody,
        _state: web::Data<AppState>,
        _path: RegistryPath,
    ) -> LocalBoxFuture<'static, ApiResult<HttpResponse>> {
        Box::pin(async { Err(ApiError::NoRoute) })
    }

    fn handle_mounted(
        &'static self,
        req: HttpRequest,
        body: RequestBody,
        state: web::Data<AppState>,
    ) -> LocalBoxFuture<'static, ApiResult<HttpResponse>> {
        Box::pin(async move {
            let result = handle(&req, body, state.into_inner()).await;
            let mut response = match result {
                Ok(response) => response,
                Err(e) => e.response(),
            };
            finish(&req, &mut response);
            Ok(response)
        })
    }

    fn install_commands(
        &self,
        base_url: &str,
        owner: &str,
        name: &str,
        version: &str,
    ) -> Vec<(&'static str, String)> {
        let host = base_url
            .split_once("://")
            .map_or(base_url, |(_, host)| host)
            .trim_end_matches('/');
        let image = format!(
            "{host}/{}/{}:{version}",
            packages_core::lower(owner),
            packages_core::lower(name)
        );
        vec![
            ("Pull with podman", format!("podman pull {image}")),
            (
                "Copy with skopeo",
                format!(
                    "skopeo copy docker://{image} oci:{}:{version}",
                    name.replace('/', "-")
                ),
            ),
            ("Pull with docker", format!("docker pull {image}")),
        ]
    }

    fn metadata_fields(&self, metadata_json: Option<&str>) -> Vec<(&'static str, String)> {
        let m: manifest::Metadata = metadata_json
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        let mut fields = vec![
            ("Digest", m.digest.clone()),
            ("Media type", m.media_type.clone()),
            ("Artifact type", m.artifact_type.clone()),
            ("Subject", m.subject.clone()),
        ];
        if m.layer_count > 0 || m.content_size > 0 {
            fields.push(("Layers", m.layer_count.to_string()));
            fields.push(("Size", format_size(m.content_size)));
        }
        for p in &m.platforms {
            let platform = if p.attestation {
                "attestation".to_owned()
            } else {
                [p.os.as_str(), p.architecture.as_str(), p.variant.as_str()]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("/")
            };
            fields.push((
                "Platform",
                format!("{platform} {} ({})", p.digest, format_size(p.size)),
            ));
        }
        fields.into_iter().filter(|(_, v)| !v.is_empty()).collect()
    }
}

fn format_size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

/// Runs the registry's blocking work (database, store, password checks) off the async
/// workers, with the request's context.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> OciResult<T> + Send + 'static,
) -> OciResult<T> {
    blocking::run(move || Ok(f())).await?
}

/// The headers every answer carries; a 401 names the token endpoint.
fn finish(req: &HttpRequest, response: &mut HttpResponse) {
    let headers = response.headers_mut();
    headers.insert(
        header::HeaderName::from_static("docker-distribution-api-version"),
        HeaderValue::from_static("registry/2.0"),
    );
    if response.status() == StatusCode::UNAUTHORIZED {
        if let Ok(value) = HeaderValue::from_str(&auth::challenge(req)) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
    }
}

async fn handle(
    req: &HttpRequest,
    body: RequestBody,
    state: Arc<AppState>,
) -> OciResult<HttpResponse> {
    let route = match names::route(req.uri().path()) {
        Ok(route) => route,
        Err(NoRoute::Name(name)) => return Err(OciError::name_invalid(&name)),
        Err(NoRoute::Unknown) => {
            return Err(OciError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such registry route",
            ))
        }
    };
    packages_api::request::set_route(route.template());
    let method = req.method().clone();
    if route == names::Route::Token {
        if !matches!(method, Method::GET | Method::HEAD) {
            return Err(OciError::unsupported("the token endpoint takes GET"));
        }
        let headers = req.headers().clone();
        let body = crate::blocking(move || auth::token(&state, &headers)).await?;
        return Ok(HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(body));
    }
    let auth = {
        let (state, headers) = (state.clone(), req.headers().clone());
        match crate::blocking(move || auth::caller(&state, &headers)).await? {
            Caller::Challenge => {
                return Err(OciError::unauthorized("authentication required"));
            }
            Caller::Known(auth) => *auth,
        }
    };
    dispatch(req, body, state, auth, route, method).await
}

async fn dispatch(
    req: &HttpRequest,
    body: RequestBody,
    state: Arc<AppState>,
    auth: AuthContext,
    route: names::Route,
    method: Method,
) -> OciResult<HttpResponse> {
    use names::Route as R;
    let not_allowed = || OciError::unsupported(format!("{method} is not allowed here"));
    match (route, &method) {
        (R::Base, &Method::GET | &Method::HEAD) => {
            Ok(HttpResponse::Ok().json(serde_json::json!({})))
        }
        (R::Catalog, &Method::GET) => listing::catalog(req.clone(), state, auth).await,
        (R::Tags(repo), &Method::GET) => listing::tags(req.clone(), state, auth, repo).await,
        (R::Referrers(repo, digest), &Method::GET) => {
            listing::referrers(req.clone(), state, auth, repo, digest).await
        }
        (R::Manifest(repo, reference), m) => match *m {
            Method::GET | Method::HEAD => {
                manifests::get(req.clone(), state, auth, repo, reference).await
            }
            Method::PUT => manifests::put(req.clone(), body, state, auth, repo, reference).await,
            Method::DELETE => manifests::delete(state, auth, repo, reference).await,
            _ => Err(not_allowed()),
        },
        (R::Blob(repo, digest), m) => match *m {
            Method::GET | Method::HEAD => blobs::get(req.clone(), state, auth, repo, digest).await,
            Method::DELETE => blobs::delete(state, auth, repo, digest).await,
            _ => Err(not_allowed()),
        },
        (R::UploadStart(repo), &Method::POST) => {
            uploads::start(req.clone(), body, state, auth, repo).await
        }
        (R::Upload(repo, id), m)
            if matches!(
                *m,
                Method::GET | Method::HEAD | Method::PATCH | Method::PUT | Method::DELETE
            ) =>
        {
            uploads::session_request(req.clone(), body, state, auth, repo, id).await
        }
        _ => Err(not_allowed()),
    }
}

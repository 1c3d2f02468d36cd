//! The Cargo format: a sparse index (RFC 2789) at the reference registry's URLs, the index
//! being `sparse+{root}/api/packages/{owner}/cargo/`:
//! - `GET config.json` says where downloads and the API are, and `auth-required` for
//!   private owners (whose anonymous requests get a 401 with cargo's login hint);
//! - `GET 1/{n}`, `2/{n}`, `3/{c}/{n}`, `{ab}/{cd}/{n}`: a crate's index file, a line per
//!   version, with `ETag` and `Last-Modified`;
//! - `PUT api/v1/crates/new` publishes (cargo's framed body, the crate streamed);
//! - `GET api/v1/crates/{n}/{v}/download`, `DELETE …/yank`, `PUT …/unyank`,
//!   `GET api/v1/crates?q=` and `GET api/v1/crates/{n}/owners`.
//!
//! cargo sends its token raw in `Authorization`; `Bearer` and Basic work too. Errors answer in
//! cargo's envelope, `{"errors": [{"detail": "…"}]}`, which cargo prints.

pub mod rules;

mod api;
mod index;
mod openapi;
mod publish;

use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;

pub use crate::rules::Cargo;
use packages_api::body::RequestBody;
use packages_api::credentials::credentials_or_bare_token;
use packages_api::error::{ApiError, ApiResult};
use packages_api::files;
use packages_api::formats::{Format, Route};
use packages_api::registry::path::RegistryPath;
use packages_api::registry::Target;
use packages_api::state::AppState;

const READ_METHODS: &[Method] = &[Method::GET, Method::HEAD];
const PUT_METHODS: &[Method] = &[Method::PUT];
const DELETE_METHODS: &[Method] = &[Method::DELETE];

const CONFIG: Route = Route {
    template: "/api/packages/{owner}/cargo/config.json",
    methods: READ_METHODS,
};
const INDEX_1: Route = Route {
    template: "/api/packages/{owner}/cargo/1/{name}",
    methods: READ_METHODS,
};
const INDEX_2: Route = Route {
    template: "/api/packages/{owner}/cargo/2/{name}",
    methods: READ_METHODS,
};
const INDEX_3: Route = Route {
    template: "/api/packages/{owner}/cargo/3/{first}/{name}",
    methods: READ_METHODS,
};
const INDEX_4: Route = Route {
    template: "/api/packages/{owner}/cargo/{first_two}/{second_two}/{name}",
    methods: READ_METHODS,
};
const PUBLISH: Route = Route {
    template: "/api/packages/{owner}/cargo/api/v1/crates/new",
    methods: PUT_METHODS,
};
const SEARCH: Route = Route {
    template: "/api/packages/{owner}/cargo/api/v1/crates",
    methods: READ_METHODS,
};
const DOWNLOAD: Route = Route {
    template: "/api/packages/{owner}/cargo/api/v1/crates/{name}/{version}/download",
    methods: READ_METHODS,
};
const YANK: Route = Route {
    template: "/api/packages/{owner}/cargo/api/v1/crates/{name}/{version}/yank",
    methods: DELETE_METHODS,
};
const UNYANK: Route = Route {
    template: "/api/packages/{owner}/cargo/api/v1/crates/{name}/{version}/unyank",
    methods: PUT_METHODS,
};
const OWNERS: Route = Route {
    template: "/api/packages/{owner}/cargo/api/v1/crates/{name}/owners",
    methods: READ_METHODS,
};
const ROUTES: &[Route] = &[
    CONFIG, INDEX_1, INDEX_2, INDEX_3, INDEX_4, PUBLISH, SEARCH, DOWNLOAD, YANK, UNYANK, OWNERS,
];

impl Format for Cargo {
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
        Box::pin(async move {
            let login = format!(
                "{}/user/settings/applications",
                packages_api::urls::origin(&req).base()
            );
            match handle(self, req, payload, state, path).await {
                Ok(response) => Ok(response),
                Err(e) => Ok(envelope(&e, &login)),
            }
        })
    }

    fn credentials(&self, headers: &HeaderMap) -> ApiResult<Option<forge_auth::Credentials>> {
        credentials_or_bare_token(headers)
    }

    fn expect_continue(
        &'static self,
        state: Arc<AppState>,
        method: &Method,
        headers: &HeaderMap,
        path: RegistryPath,
    ) -> LocalBoxFuture<'static, ApiResult<()>> {
        let publish = method == Method::PUT && matches!(call_of(&path.rest), Some(Call::Publish));
        if !publish {
            return Box::pin(async { Ok(()) });
        }
        let credentials = credentials_or_bare_token(headers);
        Box::pin(async move {
            let credentials = credentials?;
            packages_api::blocking::run(move || {
                packages_api::upload::prepare_upload(
                    &state,
                    credentials,
                    &path.owner,
                    packages_core::FormatRules::package_type(&Cargo),
                )
                .map(|_| ())
            })
            .await
        })
    }

    fn download_path(&self, owner: &str, name: &str, version: &str, _file: &str) -> Option<String> {
        Some(format!(
            "{}/api/v1/crates/{}/{}/download",
            index::api_path(owner),
            segment(name),
            segment(version)
        ))
    }

    /// cargo needs the registry in `.cargo/config.toml` and the dependency in `Cargo.toml`.
    fn install_commands(
        &self,
        base_url: &str,
        owner: &str,
        name: &str,
        version: &str,
    ) -> Vec<(&'static str, String)> {
        vec![
            (
                "Registry in .cargo/config.toml",
                format!(
                    "[registries.forge]\nindex = \"sparse+{base_url}{}/\"",
                    index::api_path(owner)
                ),
            ),
            (
                "Dependency in Cargo.toml",
                format!("{name} = {{ version = \"{version}\", registry = \"forge\" }}"),
            ),
        ]
    }

    fn metadata_fields(&self, metadata_json: Option<&str>) -> Vec<(&'static str, String)> {
        let kept: publish::Kept = metadata_json
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        let rust_version = kept
            .index
            .as_ref()
            .and_then(|l| l.rust_version.clone())
            .unwrap_or_default();
        [
            ("Description", kept.description),
            ("License", kept.license),
            ("Authors", kept.authors.join(", ")),
            ("Home page", kept.homepage),
            ("Documentation", kept.documentation),
            ("Repository", kept.repository),
            ("Minimum Rust version", rust_version),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }
}

/// A path segment, percent-encoded.
fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// An error in cargo's envelope; a 401 names where to get a token.
fn envelope(e: &ApiError, login_url: &str) -> HttpResponse {
    let plain = e.error_response();
    let mut builder = HttpResponse::build(plain.status());
    for (name, value) in plain.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            builder.append_header((name.clone(), value.clone()));
        }
    }
    if plain.status() == actix_web::http::StatusCode::UNAUTHORIZED {
        builder.insert_header((
            header::WWW_AUTHENTICATE,
            format!("Cargo login_url=\"{login_url}\""),
        ));
    }
    if matches!(e, ApiError::MethodNotAllowed(_)) {
        return builder.finish();
    }
    builder.json(serde_json::json!({ "errors": [{ "detail": e.public_message() }] }))
}

/// A request, once its path is read.
#[derive(Debug, PartialEq, Eq)]
enum Call {
    Config,
    Index(String),
    Publish,
    Search,
    Download(String, String),
    Yank(String, String),
    Unyank(String, String),
    Owners(String),
}

impl Call {
    fn route(&self, rest: &[String]) -> Route {
        match self {
            Call::Config => CONFIG,
            Call::Index(_) => match rest.first().map(String::as_str) {
                Some("1") => INDEX_1,
                Some("2") => INDEX_2,
                Some("3") => INDEX_3,
                _ => INDEX_4,
            },
            Call::Publish => PUBLISH,
            Call::Search => SEARCH,
            Call::Download(..) => DOWNLOAD,
            Call::Yank(..) => YANK,
            Call::Unyank(..) => UNYANK,
            Call::Owners(_) => OWNERS,
        }
    }
}

/// Reads the segments after `/api/packages/{owner}/cargo`.
fn call_of(rest: &[String]) -> Option<Call> {
    let words: Vec<&str> = rest.iter().map(String::as_str).collect();
    let owned = |s: &&str| (*s).to_owned();
    Some(match words.as_slice() {
        ["config.json"] => Call::Config,
        ["api", "v1", "crates"] => Call::Search,
        ["api", "v1", "crates", "new"] => Call::Publish,
        ["api", "v1", "crates", name, "owners"] => Call::Owners(owned(name)),
        ["api", "v1", "crates", name, version, "download"] => {
            Call::Download(owned(name), owned(version))
        }
        ["api", "v1", "crates", name, version, "yank"] => Call::Yank(owned(name), owned(version)),
        ["api", "v1", "crates", name, version, "unyank"] => {
            Call::Unyank(owned(name), owned(version))
        }
        _ => Call::Index(rules::name_of_index_path(&words)?),
    })
}

async fn handle(
    format: &'static Cargo,
    req: HttpRequest,
    payload: RequestBody,
    state: web::Data<AppState>,
    path: RegistryPath,
) -> ApiResult<HttpResponse> {
    let RegistryPath { owner, rest, .. } = path;
    let call = call_of(&rest).ok_or(ApiError::NoRoute)?;
    let route = call.route(&rest);
    packages_api::request::set_route(route.template);
    if !route.methods.contains(req.method()) {
        return Err(ApiError::MethodNotAllowed(route.methods));
    }
    let head = req.method() == Method::HEAD;
    match call {
        Call::Config => index::config(req, state, owner).await,
        Call::Index(name) => index::file(req, state, owner, name).await,
        Call::Publish => publish::publish(req, payload, state, owner).await,
        Call::Search => api::search(req, state, owner).await,
        Call::Download(name, version) => {
            let file = rules::crate_file(&name, &version);
            let target = Target {
                owner,
                name,
                version,
            };
            files::download(req, state, format, target, file, head).await
        }
        Call::Yank(name, version) => api::yank(req, state, owner, name, version, true).await,
        Call::Unyank(name, version) => api::yank(req, state, owner, name, version, false).await,
        Call::Owners(name) => api::owners(req, state, owner, name).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(path: &str) -> Option<Call> {
        let rest: Vec<String> = path.split('/').map(str::to_owned).collect();
        call_of(&rest)
    }

    #[test]
    fn reads_paths() {
        assert_eq!(call("config.json"), Some(Call::Config));
        assert_eq!(call("se/rd/Serde"), Some(Call::Index("Serde".to_owned())));
        assert_eq!(call("3/a/abc"), Some(Call::Index("abc".to_owned())));
        assert_eq!(call("1/a"), Some(Call::Index("a".to_owned())));
        assert_eq!(call("api/v1/crates/new"), Some(Call::Publish));
        assert_eq!(call("api/v1/crates"), Some(Call::Search));
        assert_eq!(
            call("api/v1/crates/a/1.0.0/download"),
            Some(Call::Download("a".to_owned(), "1.0.0".to_owned()))
        );
        assert_eq!(
            call("api/v1/crates/a/1.0.0/unyank"),
            Some(Call::Unyank("a".to_owned(), "1.0.0".to_owned()))
        );
        assert_eq!(
            call("api/v1/crates/a/owners"),
            Some(Call::Owners("a".to_owned()))
        );
        assert_eq!(call("xx/yy/serde"), None);
        assert_eq!(call("api/v2/x"), None);
    }
}

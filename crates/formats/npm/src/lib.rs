//! The npm format, at the reference registry's URLs (base `/api/packages/{owner}/npm/`, what
//! users put in `.npmrc` as `registry=` or `@scope:registry=`):
//! - `PUT {id}` publishes a version (npm's JSON with the tarball in `_attachments`, read as a
//!   stream), or, without a tarball, changes deprecation messages;
//! - `GET {id}` answers the packument, abbreviated when `Accept` asks for npm's install form;
//! - `GET {id}/-/{version}/{file}` (what `dist.tarball` names) and `{id}/-/{file}` (older
//!   lockfiles) download a tarball;
//! - `PUT {id}/-rev/{rev}` is accepted and ignored (npm sends it before removing a version),
//!   `DELETE {id}/-/{version}/{file}/-rev/{rev}` removes a version, `DELETE {id}/-rev/{rev}`
//!   the package;
//! - `-/package/{id}/dist-tags[/{tag}]` lists, sets and removes dist-tags;
//! - `-/v1/search` searches the owner's packages; `-/whoami` and `-/ping` answer npm's checks.
//!
//! `{id}` is a name, a scoped name as `@scope%2fname` (any case of the escape), or a scoped name
//! with a literal `/`.

pub mod rules;

mod openapi;
mod packument;
mod publish;
mod search;
mod tags;

use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use packages_core::lower;
use serde_json::Value;

pub use crate::rules::Npm;
use packages_api::auth::{authenticate, credentials_in, credentials_of};
use packages_api::blocking;
use packages_api::body::RequestBody;
use packages_api::error::{ApiError, ApiResult};
use packages_api::files;
use packages_api::formats::{Format, Route};
use packages_api::registry::path::RegistryPath;
use packages_api::registry::Target;
use packages_api::state::AppState;

const PACKAGE_METHODS: &[Method] = &[Method::GET, Method::HEAD, Method::PUT];
const READ_METHODS: &[Method] = &[Method::GET, Method::HEAD];
const REV_METHODS: &[Method] = &[Method::PUT, Method::DELETE];
const DELETE_METHODS: &[Method] = &[Method::DELETE];
const TAG_METHODS: &[Method] = &[Method::PUT, Method::DELETE];
const GET_METHODS: &[Method] = &[Method::GET];

/// The packument; publishing and deprecating.
const PACKAGE: Route = Route {
    template: "/api/packages/{owner}/npm/{id}",
    methods: PACKAGE_METHODS,
};
/// npm's revision-addressed writes: the edit before an unpublish, and the whole package's
/// removal.
const REVISION: Route = Route {
    template: "/api/packages/{owner}/npm/{id}/-rev/{rev}",
    methods: REV_METHODS,
};
/// A tarball, as `dist.tarball` names it.
const TARBALL: Route = Route {
    template: "/api/packages/{owner}/npm/{id}/-/{version}/{file}",
    methods: READ_METHODS,
};
/// A tarball by file name alone (the standard registry form older lockfiles hold).
const TARBALL_BY_NAME: Route = Route {
    template: "/api/packages/{owner}/npm/{id}/-/{file}",
    methods: READ_METHODS,
};
/// Removal of the version a tarball belongs to.
const TARBALL_REVISION: Route = Route {
    template: "/api/packages/{owner}/npm/{id}/-/{version}/{file}/-rev/{rev}",
    methods: DELETE_METHODS,
};
const DIST_TAGS: Route = Route {
    template: "/api/packages/{owner}/npm/-/package/{id}/dist-tags",
    methods: GET_METHODS,
};
const DIST_TAG: Route = Route {
    template: "/api/packages/{owner}/npm/-/package/{id}/dist-tags/{tag}",
    methods: TAG_METHODS,
};
const SEARCH: Route = Route {
    template: "/api/packages/{owner}/npm/-/v1/search",
    methods: GET_METHODS,
};
const WHOAMI: Route = Route {
    template: "/api/packages/{owner}/npm/-/whoami",
    methods: GET_METHODS,
};
const PING: Route = Route {
    template: "/api/packages/{owner}/npm/-/ping",
    methods: GET_METHODS,
};
const ROUTES: &[Route] = &[
    PACKAGE,
    REVISION,
    TARBALL,
    TARBALL_BY_NAME,
    TARBALL_REVISION,
    DIST_TAGS,
    DIST_TAG,
    SEARCH,
    WHOAMI,
    PING,
];

impl Format for Npm {
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
        // Only a publish sends a tarball; dist-tag and revision writes are small.
        let publish = matches!(
            call_of(without_repeated_base(&path.owner, &path.rest)),
            Some(Call::Package(_))
        );
        if method != Method::PUT || !publish {
            return Box::pin(async { Ok(()) });
        }
        let credentials = credentials_in(headers);
        Box::pin(async move {
            let credentials = credentials?;
            blocking::run(move || publish::prepare(&state, credentials, &path.owner).map(|_| ()))
                .await
        })
    }

    fn download_path(&self, owner: &str, name: &str, version: &str, file: &str) -> Option<String> {
        Some(rules::tarball_path(owner, name, version, file))
    }

    /// npm resolves through the owner's registry, so the page offers the `.npmrc` line that
    /// points the package's scope (or everything) there, and the install command.
    fn install_commands(
        &self,
        base_url: &str,
        owner: &str,
        name: &str,
        version: &str,
    ) -> Vec<(&'static str, String)> {
        let registry = format!("{base_url}{}/", rules::registry_path(owner));
        let line = match rules::scope_of(name) {
            Some(scope) => format!("@{scope}:registry={registry}"),
            None => format!("registry={registry}"),
        };
        vec![
            ("Registry in .npmrc", line),
            ("Install with npm", format!("npm install {name}@{version}")),
        ]
    }

    fn metadata_fields(&self, metadata_json: Option<&str>) -> Vec<(&'static str, String)> {
        let manifest: serde_json::Map<String, Value> = metadata_json
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        let text = |key: &str| match manifest.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => ["name", "url"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned(),
            _ => String::new(),
        };
        let dependencies = manifest
            .get("dependencies")
            .and_then(Value::as_object)
            .map(|deps| {
                deps.iter()
                    .map(|(n, r)| format!("{n} {}", r.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        [
            ("Description", text("description")),
            ("License", text("license")),
            ("Author", text("author")),
            ("Home page", text("homepage")),
            ("Repository", text("repository")),
            ("Dependencies", dependencies),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }
}

/// A request, once its path is read.
enum Call {
    Package(String),
    Revision(String),
    Tarball(String, String, String),
    TarballByName(String, String),
    /// The file name is not checked: the version is what goes.
    TarballRevision(String, String),
    ByNameRevision(String, String),
    DistTags(String),
    DistTag(String, String),
    Search,
    Whoami,
    Ping,
}

impl Call {
    fn route(&self) -> Route {
        match self {
            Call::Package(_) => PACKAGE,
            Call::Revision(_) => REVISION,
            Call::Tarball(..) => TARBALL,
            Call::TarballByName(..) => TARBALL_BY_NAME,
            Call::TarballRevision(..) => TARBALL_REVISION,
            Call::ByNameRevision(..) => TARBALL_REVISION,
            Call::DistTags(_) => DIST_TAGS,
            Call::DistTag(..) => DIST_TAG,
            Call::Search => SEARCH,
            Call::Whoami => WHOAMI,
            Call::Ping => PING,
        }
    }
}

/// Reads the segments after `/api/packages/{owner}/npm`.
fn call_of(rest: &[String]) -> Option<Call> {
    let words: Vec<&str> = rest.iter().map(String::as_str).collect();
    if words.first() == Some(&"-") {
        return match &words[1..] {
            ["v1", "search"] => Some(Call::Search),
            ["whoami"] => Some(Call::Whoami),
            ["ping"] => Some(Call::Ping),
            ["package", ..] => {
                let (name, used) = rules::name_in(&rest[2..])?;
                match &words[2 + used..] {
                    ["dist-tags"] => Some(Call::DistTags(name)),
                    ["dist-tags", tag] => Some(Call::DistTag(name, (*tag).to_owned())),
                    _ => None,
                }
            }
            _ => None,
        };
    }
    let (name, used) = rules::name_in(rest)?;
    let owned = |s: &&str| (*s).to_owned();
    Some(match &words[used..] {
        [] => Call::Package(name),
        ["-rev", _] => Call::Revision(name),
        ["-", version, file] => Call::Tarball(name, owned(version), owned(file)),
        ["-", file] => Call::TarballByName(name, owned(file)),
        ["-", version, _, "-rev", _] => Call::TarballRevision(name, owned(version)),
        ["-", file, "-rev", _] => Call::ByNameRevision(name, owned(file)),
        _ => return None,
    })
}

/// The segments after a second copy of the registry base, if they start with one.
///
/// npm unpublishes a version by deleting its tarball's path below the registry, and finds
/// that path by cutting the *default* registry's path off the tarball URL: with only
/// `@scope:registry=` pointing here, nothing is cut and the base arrives twice
/// (`…/npm/api/packages/{owner}/npm/@scope%2fname/-/…`). No package path starts that way
/// otherwise (`api/packages/…` matches no route), so the copy is dropped.
fn without_repeated_base<'a>(owner: &str, rest: &'a [String]) -> &'a [String] {
    match rest {
        [api, packages, again, npm, tail @ ..]
            if api == "api"
                && packages == "packages"
                && npm == "npm"
                && again.eq_ignore_ascii_case(owner)
                && !tail.is_empty() =>
        {
            tail
        }
        _ => rest,
    }
}

/// The version a tarball file name holds: `{bare name}-{version}.tgz`.
fn version_in_file(name: &str, file: &str) -> Option<String> {
    let file = lower(file);
    let prefix = format!("{}-", lower(rules::bare_name(name)));
    file.strip_prefix(&prefix)?
        .strip_suffix(".tgz")
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

async fn handle(
    format: &'static Npm,
    req: HttpRequest,
    payload: RequestBody,
    state: web::Data<AppState>,
    path: RegistryPath,
) -> ApiResult<HttpResponse> {
    let RegistryPath { owner, rest, .. } = path;
    let call = call_of(without_repeated_base(&owner, &rest)).ok_or(ApiError::NoRoute)?;
    let route = call.route();
    packages_api::request::set_route(route.template);
    let method = req.method().clone();
    if !route.methods.contains(&method) {
        return Err(ApiError::MethodNotAllowed(route.methods));
    }
    let head = method == Method::HEAD;
    let target = |name: String, version: String| Target {
        owner: owner.clone(),
        name,
        version,
    };
    match call {
        Call::Package(name) if method == Method::PUT => {
            publish::put(req, payload, state, owner, name).await
        }
        Call::Package(name) => packument::get(req, state, owner, name).await,
        Call::Revision(_) if method == Method::PUT => {
            // npm sends the edited packument before removing a version's tarball; the
            // removal that follows is what changes anything.
            let credentials = credentials_of(&req)?;
            let state = state.into_inner();
            blocking::run(move || files::writable_owner(&state, credentials, &owner)).await?;
            Ok(HttpResponse::Ok().json(serde_json::json!({ "ok": true })))
        }
        Call::Revision(name) => {
            let credentials = credentials_of(&req)?;
            let state = state.into_inner();
            blocking::run(move || {
                let owner_id = files::writable_owner(&state, credentials, &owner)?;
                packages_service::packages::delete_package(&state, owner_id, &Npm, &name)?;
                Ok(())
            })
            .await?;
            Ok(HttpResponse::Ok().json(serde_json::json!({ "ok": true })))
        }
        Call::Tarball(name, version, file) => {
            files::download(req, state, format, target(name, version), file, head).await
        }
        Call::TarballByName(name, file) => {
            let version = version_in_file(&name, &file)
                .ok_or(ApiError::NotFound("package file does not exist"))?;
            files::download(req, state, format, target(name, version), file, head).await
        }
        Call::TarballRevision(name, version) => {
            delete_version(req, state, target(name, version)).await
        }
        Call::ByNameRevision(name, file) => {
            let version = version_in_file(&name, &file)
                .ok_or(ApiError::NotFound("package file does not exist"))?;
            delete_version(req, state, target(name, version)).await
        }
        Call::DistTags(name) => tags::list(req, state, owner, name).await,
        Call::DistTag(name, tag) if method == Method::PUT => {
            tags::add(req, payload, state, owner, name, tag).await
        }
        Call::DistTag(name, tag) => tags::remove(req, state, owner, name, tag).await,
        Call::Search => search::search(req, state, owner).await,
        Call::Whoami => whoami(req, state).await,
        Call::Ping => Ok(HttpResponse::Ok().json(serde_json::json!({}))),
    }
}

/// Removes a version with its tarball and dist-tags; 200 as npm expects.
async fn delete_version(
    req: HttpRequest,
    state: web::Data<AppState>,
    target: Target,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    blocking::run(move || {
        let owner_id = files::writable_owner(&state, credentials, &target.owner)?;
        packages_service::packages::delete_version(
            &state,
            owner_id,
            &Npm,
            &target.name,
            &target.version,
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "ok": true })))
}

/// `GET -/whoami`: the signed-in user's name, as `npm whoami` shows it.
async fn whoami(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    let name = blocking::run(move || {
        let auth = authenticate(&state, credentials)?;
        auth.doer
            .map(|d| d.name.clone())
            .ok_or(ApiError::Unauthorized("sign in to see who you are"))
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "username": name })))
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
        assert!(matches!(call("a"), Some(Call::Package(n)) if n == "a"));
        assert!(matches!(call("@s/n"), Some(Call::Package(n)) if n == "@s/n"));
        assert!(matches!(call("@s/n/-rev/undefined"), Some(Call::Revision(n)) if n == "@s/n"));
        assert!(matches!(
            call("@s/n/-/1.0.0/n-1.0.0.tgz"),
            Some(Call::Tarball(n, v, f)) if n == "@s/n" && v == "1.0.0" && f == "n-1.0.0.tgz"
        ));
        assert!(matches!(
            call("a/-/a-1.0.0.tgz"),
            Some(Call::TarballByName(..))
        ));
        assert!(matches!(
            call("a/-/1.0.0/a-1.0.0.tgz/-rev/3-x"),
            Some(Call::TarballRevision(..))
        ));
        assert!(matches!(
            call("a/-/a-1.0.0.tgz/-rev/1"),
            Some(Call::ByNameRevision(..))
        ));
        assert!(matches!(call("-/package/@s/n/dist-tags"), Some(Call::DistTags(n)) if n == "@s/n"));
        assert!(matches!(
            call("-/package/a/dist-tags/beta"),
            Some(Call::DistTag(n, t)) if n == "a" && t == "beta"
        ));
        assert!(matches!(call("-/v1/search"), Some(Call::Search)));
        assert!(call("-/other").is_none());
        assert!(call("a/b/c").is_none());
        assert!(call("@s").is_none());
    }

    #[test]
    fn a_repeated_registry_base_is_dropped() {
        let segs = |s: &str| s.split('/').map(str::to_owned).collect::<Vec<_>>();
        let doubled = segs("api/packages/Alice/npm/@s/n/-/1.0.0/n-1.0.0.tgz/-rev/undefined");
        assert_eq!(
            without_repeated_base("alice", &doubled),
            &segs("@s/n/-/1.0.0/n-1.0.0.tgz/-rev/undefined")[..]
        );
        let other_owner = segs("api/packages/bob/npm/x");
        assert_eq!(
            without_repeated_base("alice", &other_owner),
            &other_owner[..]
        );
        let plain = segs("api");
        assert_eq!(without_repeated_base("alice", &plain), &plain[..]);
    }

    #[test]
    fn versions_in_file_names() {
        assert_eq!(
            version_in_file("@s/n", "n-1.0.0-RC.1.tgz").as_deref(),
            Some("1.0.0-rc.1")
        );
        assert_eq!(version_in_file("a", "b-1.0.0.tgz"), None);
        assert_eq!(version_in_file("a", "a-.tgz"), None);
    }
}

//! The package formats the registry serves, and what one must provide.
//!
//! A format is a crate of its own under `crates/formats/`: a unit type implementing
//! [`FormatRules`] (type name, name comparison) from `packages-core` and [`Format`] (its HTTP
//! surface) from here. The binary hands the server its list of formats as a [`Formats`];
//! nothing in this crate names a format. The list also decides the size limit settings
//! (`size_<type>` in the `[limits]` section, `FORGE_LIMIT_SIZE_<TYPE>`: Forgejo's names).
//!
//! What a format gets without writing it: authentication and the owner access check
//! ([`packages_service::access`]), the size limits and the owner quota ([`crate::upload`]), streaming
//! bodies into the blob store with nothing left behind on failure ([`crate::upload`]),
//! downloads with ranges, conditionals and counting ([`crate::files`]), deletes of files and
//! versions ([`crate::files`]), the `/api/v1/packages` listing and the blob sweep.

use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use packages_core::FormatRules;

use crate::body::RequestBody;
use crate::error::ApiResult;
use crate::registry::path::RegistryPath;
use crate::state::AppState;

/// A route a format answers below `/api/packages/{owner}/{type}/`: the template its dispatch
/// records with [`crate::request::set_route`] and the methods it takes there.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub template: &'static str,
    pub methods: &'static [Method],
}

/// Named OpenAPI schemas, as a format adds them to the document's components.
pub type Schemas = Vec<(
    String,
    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
)>;

/// The HTTP side of a package format.
pub trait Format: FormatRules {
    /// Every route the format's [`Format::handle`] answers. The end-to-end tests check each
    /// is in the OpenAPI document.
    fn routes(&self) -> &'static [Route];

    /// The OpenAPI description of [`Format::routes`], merged into `GET /api/openapi.json`.
    fn openapi(&self) -> utoipa::openapi::Paths;

    /// The schemas [`Format::openapi`] refers to by name, added to the document's
    /// components. None by default.
    fn openapi_schemas(&self) -> Schemas {
        Vec::new()
    }

    /// Answers a request below `/api/packages/{owner}/{type}/`; `path.rest` holds the decoded
    /// segments after the type. The body comes with the server's idle timeout applied, and
    /// a request that sends content counts as an upload in progress while it is handled.
    fn handle(
        &'static self,
        req: HttpRequest,
        body: RequestBody,
        state: web::Data<AppState>,
        path: RegistryPath,
    ) -> LocalBoxFuture<'static, ApiResult<HttpResponse>>;

    /// A path prefix outside `/api/packages` that the format answers as a whole (a protocol
    /// whose clients expect fixed URLs at the root of the host, such as the container
    /// registry's `/v2`). None by default.
    fn mount(&self) -> Option<&'static str> {
        None
    }

    /// Answers a request below [`Format::mount`], with the same intake as
    /// [`Format::handle`] (idle timeout, uploads gauge). The default answers no route.
    fn handle_mounted(
        &'static self,
        req: HttpRequest,
        body: RequestBody,
        state: web::Data<AppState>,
    ) -> LocalBoxFuture<'static, ApiResult<HttpResponse>> {
        let _ = (req, body, state);
        Box::pin(async { Err(crate::error::ApiError::NoRoute) })
    }

    /// The credentials of a request to this format's routes, as the kit's shared handlers
    /// (downloads, deletes) read them. By default the schemes of the reference registry
    /// (`token`, `Bearer`, `Basic`); a format whose clients send a bare token returns
    /// [`crate::credentials::credentials_or_bare_token`].
    fn credentials(&self, headers: &HeaderMap) -> ApiResult<Option<forge_auth::Credentials>> {
        crate::credentials::credentials_in(headers)
    }

    /// For a request sent with `Expect: 100-continue`: the checks that can refuse it before
    /// its body (credentials, permission, validation, limits against `Content-Length`). `Ok`
    /// lets the client send the body; the handler checks everything again. By default every
    /// body is welcome.
    fn expect_continue(
        &'static self,
        state: Arc<AppState>,
        method: &Method,
        headers: &HeaderMap,
        path: RegistryPath,
    ) -> LocalBoxFuture<'static, ApiResult<()>> {
        let _ = (state, method, headers, path);
        Box::pin(async { Ok(()) })
    }

    /// The path on this server a file of a version is downloaded from, for the web
    /// interface's links and its curl, wget and sha256sum commands. None (the default) when
    /// files are not fetched one by one.
    fn download_path(&self, owner: &str, name: &str, version: &str, file: &str) -> Option<String> {
        let _ = (owner, name, version, file);
        None
    }

    /// Commands the version page offers besides fetching each file (`pip install …`), as
    /// labelled texts; `base_url` is `scheme://host` as the browser reached the server.
    /// None by default.
    fn install_commands(
        &self,
        base_url: &str,
        owner: &str,
        name: &str,
        version: &str,
    ) -> Vec<(&'static str, String)> {
        let _ = (base_url, owner, name, version);
        Vec::new()
    }

    /// The version metadata a page shows, as labelled values, from the stored
    /// `metadata_json`. None by default.
    fn metadata_fields(&self, metadata_json: Option<&str>) -> Vec<(&'static str, String)> {
        let _ = metadata_json;
        Vec::new()
    }
}

/// The registered formats, in display order; cheap to clone.
#[derive(Clone, Default)]
pub struct Formats(Arc<[&'static dyn Format]>);

impl Formats {
    /// A list of formats; a type name given twice keeps its first format.
    pub fn new(formats: impl IntoIterator<Item = &'static dyn Format>) -> Self {
        let mut list: Vec<&'static dyn Format> = Vec::new();
        for format in formats {
            let name = format.package_type();
            if !list.iter().any(|f| f.package_type() == name) {
                list.push(format);
            }
        }
        Formats(list.into())
    }

    /// The same list with `format` added at the end.
    pub fn with(&self, format: &'static dyn Format) -> Self {
        Formats::new(self.iter().chain(std::iter::once(format)))
    }

    /// The registered format of this type name.
    pub fn find(&self, name: &str) -> Option<&'static dyn Format> {
        self.iter().find(|f| f.package_type().as_str() == name)
    }

    /// Every format, in display order.
    pub fn iter(&self) -> impl Iterator<Item = &'static dyn Format> + '_ {
        self.0.iter().copied()
    }

    /// The formats' rules, for the use cases.
    pub fn types(&self) -> packages_service::FormatTypes {
        packages_service::FormatTypes::new(self.iter().map(|f| f as &dyn FormatRules))
    }

    /// The format mounted at the start of `path` (see [`Format::mount`]).
    pub fn mounted_at(&self, path: &str) -> Option<&'static dyn Format> {
        self.iter().find(|f| {
            f.mount().is_some_and(|prefix| {
                path.strip_prefix(prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
        })
    }

    /// Every type name, in display order.
    pub fn type_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.iter().map(|f| f.package_type().as_str())
    }
}

impl std::fmt::Debug for Formats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.type_names()).finish()
    }
}

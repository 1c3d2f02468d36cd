//! The package formats the registry serves, and what one must provide.
//!
//! A format is a unit type in its own module: its rules (type name, size limit setting, name
//! comparison) implement [`FormatRules`] in `packages-core`, its HTTP surface implements
//! [`Format`] here. [`formats!`] below is the one list that registers them; it also gives
//! every format its field in [`Limits`] (`size_<type>` in the `[limits]` section of the
//! configuration, `FORGE_LIMIT_SIZE_<TYPE>` in the environment: Forgejo's names).
//!
//! What a format gets without writing it: authentication and the owner access check
//! ([`crate::access`]), the size limits and the owner quota ([`crate::upload`]), streaming
//! bodies into the blob store with nothing left behind on failure ([`crate::upload`]),
//! downloads with ranges, conditionals and counting ([`crate::files`]), deletes of files and
//! versions ([`crate::files`]), the `/api/v1/packages` listing and the blob sweep.

use std::sync::Arc;

use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use packages_core::{FormatRules, Limit, PackageType};

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

/// The HTTP side of a package format.
pub trait Format: FormatRules {
    /// Every route the format's [`Format::handle`] answers. The end-to-end tests check each
    /// is in the OpenAPI document.
    fn routes(&self) -> &'static [Route];

    /// The OpenAPI description of [`Format::routes`], merged into `GET /api/openapi.json`.
    fn openapi(&self) -> utoipa::openapi::Paths;

    /// Answers a request below `/api/packages/{owner}/{type}/`; `path.rest` holds the decoded
    /// segments after the type.
    fn handle(
        &'static self,
        req: HttpRequest,
        payload: web::Payload,
        state: web::Data<AppState>,
        path: RegistryPath,
    ) -> LocalBoxFuture<'static, ApiResult<HttpResponse>>;

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

/// Registers the formats: each line is `size_<type> => <format value>`. The list defines
/// [`FORMATS`] and the per-format size limits of [`Limits`]. A line may be gated with
/// `#[cfg(…)]` (the test-only format); such a format has no configuration key.
macro_rules! formats {
    ($($(#[cfg($cfg:meta)])? $size:ident => $format:expr),* $(,)?) => {
        /// Every registered format, in display order.
        pub static FORMATS: &[&'static dyn Format] = &[$($(#[cfg($cfg)])? &$format),*];

        /// Package limits with the reference registry's semantics; site admins are exempt.
        /// Read from the `[limits]` section of the configuration, where each format's field
        /// is `size_<type>` (`FORGE_LIMIT_SIZE_<TYPE>`).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Limits {
            $(
                $(#[cfg($cfg)] #[serde(skip)])?
                #[doc = concat!("Largest single file of the format registered as `", stringify!($size), "`.")]
                pub $size: Limit,
            )*
            /// Largest total size of an owner's files.
            pub total_owner_size: Limit,
            /// Most versions an owner may have.
            pub total_owner_count: Limit,
        }

        impl Limits {
            /// The largest single file of the given format.
            pub fn size_of(&self, package_type: PackageType) -> Limit {
                $(
                    $(#[cfg($cfg)])?
                    if $format.package_type() == package_type {
                        return self.$size;
                    }
                )*
                Limit::None
            }

            /// Sets the largest single file of the given format.
            pub fn set_size(&mut self, package_type: PackageType, limit: Limit) {
                $(
                    $(#[cfg($cfg)])?
                    if $format.package_type() == package_type {
                        self.$size = limit;
                    }
                )*
            }
        }
    };
}

formats! {
    size_generic => packages_core::generic::Generic,
    size_pypi => packages_core::pypi::Pypi,
    #[cfg(feature = "test-format")]
    size_single => crate::single::Single,
}

/// The registered format of this name.
pub fn find(name: &str) -> Option<&'static dyn Format> {
    FORMATS
        .iter()
        .copied()
        .find(|f| f.package_type().as_str() == name)
}

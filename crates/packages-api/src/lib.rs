//! The HTTP layer of forge-packages on actix-web, and the kit every package format builds on.
//!
//! - `/api/packages/{owner}/{type}/…`: the package registry, entered through
//!   [`dispatch::dispatch`], which hands each request to the registered format of its type
//!   ([`formats::Format`], one crate per format under `crates/formats/`); what formats share
//!   is here: [`upload`], [`files`], [`serve`], [`body`], [`credentials`], [`auth`];
//! - `/api/v1/…`: the Gitea-compatible management API ([`v1`]);
//! - `/api/healthz` and `/metrics` ([`health`]);
//! - `/api/openapi.json`: the OpenAPI document of all the above ([`openapi`]), checked against
//!   the route tables ([`routes`]).
//!
//! The use cases are `packages-service`'s and the pages `packages-web`'s. Errors are
//! [`error::ApiError`] (a `ServiceError` converts into one), mapped to HTTP in one place.

pub mod auth;
pub mod blocking;
pub mod body;
pub mod control_chars;
pub mod credentials;
pub mod dispatch;
pub mod error;
pub mod expect;
pub mod file_headers;
pub mod files;
pub mod formats;
pub mod health;
pub mod idle;
pub mod links;
pub mod metered_store;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod registry;
pub mod request;
pub mod resumable;
pub mod routes;
pub mod serve;
pub mod state;
pub mod upload;
pub mod urls;
pub mod v1;
pub mod write_mode;

pub use error::{ApiError, JsonError};
pub use formats::{Format, Formats};
pub use state::{AppState, Limits, LinkSettings, Settings};

use actix_web::web;

routes::route_table! {
    TOP_ROUTES, register_top;
    "/api/healthz" => [get => health::healthz],
    "/api/openapi.json" => [get => openapi::serve],
    "/metrics" => [get => health::serve_metrics],
}

/// Registers every route of the service: the fixed ones, the registry below
/// `/api/packages`, and the prefix of each format that has one of its own.
pub fn configure(cfg: &mut web::ServiceConfig, formats: &Formats) {
    cfg.configure(register_top)
        .configure(v1::configure)
        .service(web::scope(registry::path::PREFIX).default_service(web::to(dispatch::dispatch)));
    for prefix in formats.iter().filter_map(|f| f.mount()) {
        cfg.service(web::scope(prefix).default_service(web::to(dispatch::mounted)));
    }
}

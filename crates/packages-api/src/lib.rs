//! The HTTP layer of forge-packages on actix-web.
//!
//! - `/api/packages/{owner}/{type}/…`: the package registry, one module per format
//!   ([`generic`]), registered in [`formats`] and entered through [`registry::dispatch`];
//! - `/api/v1/…`: the Gitea-compatible management API ([`v1`]);
//! - `/api/healthz`: liveness with a database check;
//! - `/api/openapi.json`: the OpenAPI document of all the above ([`openapi`]), checked against
//!   the route tables ([`routes`]);
//! - everything else: the web interface ([`pages`]), server-rendered pages.
//!
//! Errors are [`error::ApiError`], mapped to HTTP in one place.

pub mod auth;
pub mod blocking;
pub mod body;
pub mod control_chars;
pub mod credentials;
pub mod dispatch;
pub mod error;
pub mod expect;
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

/// Registers every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(register_top)
        .configure(v1::configure)
        .service(web::scope(registry::path::PREFIX).default_service(web::to(dispatch::dispatch)));
}

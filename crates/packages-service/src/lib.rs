//! The use cases of forge-packages, free of any web framework: the HTTP layer
//! (`packages-api`, the format crates), the web pages (`packages-web`) and the command line
//! (`forge-server`) all call these, so each rule has one definition.
//!
//! Errors are [`ServiceError`]: what went wrong, never a status code.

pub mod access;
pub mod accounts;
pub mod auth;
pub mod cache;
pub mod cleanup_rules;
pub mod client_addr;
pub mod downloads;
pub mod error;
pub mod leftovers;
pub mod limiter;
pub mod limits;
pub mod links;
pub mod packages;
pub mod public_url;
pub mod reads;
pub mod resumable;
pub mod state;
pub mod token_uses;
pub mod users;
pub mod validate;

pub use error::{ServiceError, ServiceResult};
pub use state::{FormatTypes, LinkSettings, Service, Settings};

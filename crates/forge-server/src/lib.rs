//! The forge-packages server: configuration, wiring of database, blob store and HTTP layer,
//! the background sweep and cleanup rules, and the operations behind the admin command line.

pub mod admin;
pub mod backup;
pub mod config;
pub mod error;
pub mod formats;
pub mod link_keys;
pub mod logging;
pub mod migrate;
pub mod password_input;
pub mod periodic;
pub mod retention;
pub mod server;
pub mod storage;
pub mod sweep;
pub mod tls;
pub mod verify;

pub use config::Config;
pub use server::{start, start_with_formats, Running, ServerError};

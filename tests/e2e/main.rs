//! End-to-end tests: each scenario starts its own server and database and runs once on SQLite
//! (`sqlite::…`) and once on PostgreSQL (`postgres::…`, skipped without
//! `FORGE_TEST_DATABASE_URL`).

mod admin;
mod admin_cli;
mod auth;
mod binary;
mod common;
mod concurrency;
mod config;
mod differences;
mod digests;
mod directory;
mod downloads;
mod files;
mod format_seam;
mod generic;
mod gitea_client;
mod limits_streaming;
mod logs;
mod manifests;
mod metrics;
mod operations;
mod package_access;
mod package_api;
mod quota;
mod read_cache;
mod replace;
mod signed_links;
mod status_codes;
mod storage;
mod sweep;
mod tls;
mod tokens;
mod visibility;
mod web_browser;
mod web_pages;

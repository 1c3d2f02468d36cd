//! What a registry request names: the parsed path ([`path`]) and the package it targets.
//! [`crate::dispatch`] hands both to the format. A format's handlers call
//! [`crate::request::set_route`] with the route template, which metrics and the access log
//! group requests by.

pub mod path;

/// The package a request names, decoded but not yet validated.
#[derive(Debug, Clone)]
pub struct Target {
    pub owner: String,
    pub name: String,
    pub version: String,
}

//! What the Cargo tests send, shaped as `cargo publish` builds it: the metadata document, the
//! framed publish body (`u32` LE length, JSON, `u32` LE length, `.crate`), and where a crate's
//! index file lives in the sparse index.

use serde_json::{json, Value};
use sha2::Digest as _;

use crate::{Auth, Resp, TestServer};

/// The format's type name.
pub const TYPE: &str = "cargo";

/// The index root of `owner` below the server's root (what `sparse+…/` names, without the
/// root nor the trailing slash).
pub fn registry_path(owner: &str) -> String {
    format!("/api/packages/{owner}/cargo")
}

/// The path of `name`'s index file below the index root, as cargo asks for it: lowercase
/// `1/{n}`, `2/{n}`, `3/{c}/{n}`, `{ab}/{cd}/{n}`.
pub fn index_file(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    }
}

/// The full path of `name`'s index file of `owner`.
pub fn index_path(owner: &str, name: &str) -> String {
    format!("{}/{}", registry_path(owner), index_file(name))
}

/// `…/api/v1/crates/new`.
pub fn publish_path(owner: &str) -> String {
    format!("{}/api/v1/crates/new", registry_path(owner))
}

/// `…/api/v1/crates/{name}/{version}/download`.
pub fn download_path(owner: &str, name: &str, version: &str) -> String {
    format!(
        "{}/api/v1/crates/{name}/{version}/download",
        registry_path(owner)
    )
}

/// Deterministic bytes standing in for a `.crate` (the registry does not unpack them).
pub fn crate_bytes(seed: &str, len: usize) -> Vec<u8> {
    let mut state = sha2::Sha256::digest(seed.as_bytes()).to_vec();
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state = sha2::Sha256::digest(&state).to_vec();
        out.extend_from_slice(&state);
    }
    out.truncate(len);
    out
}

/// A dependency as cargo puts it in the publish metadata: a normal one on `name` with
/// `version_req`.
pub fn dep(name: &str, version_req: &str) -> Value {
    json!({
        "name": name,
        "version_req": version_req,
        "features": [],
        "optional": false,
        "default_features": true,
        "target": null,
        "kind": "normal",
        "registry": null,
        "explicit_name_in_toml": null,
    })
}

/// The metadata `cargo publish` sends for `name` `vers` with no dependencies nor features.
pub fn metadata(name: &str, vers: &str) -> Value {
    json!({
        "name": name,
        "vers": vers,
        "deps": [],
        "features": {},
        "authors": ["Alice <alice@example.com>"],
        "description": format!("The crate {name}"),
        "documentation": null,
        "homepage": null,
        "readme": null,
        "readme_file": null,
        "keywords": [],
        "categories": [],
        "license": "MIT OR Apache-2.0",
        "license_file": null,
        "repository": null,
        "badges": {},
        "links": null,
        "rust_version": null,
    })
}

/// The body of `PUT …/api/v1/crates/new` for this metadata document and `.crate`.
pub fn publish_body(metadata: &Value, krate: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(metadata).expect("serialise metadata");
    frame(&json, krate)
}

/// The framing of a publish body around raw metadata bytes and the `.crate`.
pub fn frame(json: &[u8], krate: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + json.len() + krate.len());
    body.extend_from_slice(&(json.len() as u32).to_le_bytes());
    body.extend_from_slice(json);
    body.extend_from_slice(&(krate.len() as u32).to_le_bytes());
    body.extend_from_slice(krate);
    body
}

/// `PUT …/api/v1/crates/new` of this body to `owner`'s registry.
pub fn put_publish(s: &TestServer, owner: &str, auth: &Auth, body: &[u8]) -> Resp {
    s.request("PUT", &publish_path(owner), auth, &[], Some(body))
}

/// The index lines of an index file, each parsed.
pub fn index_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("index line is not JSON ({e}): {l}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_files() {
        assert_eq!(index_file("a"), "1/a");
        assert_eq!(index_file("Ab"), "2/ab");
        assert_eq!(index_file("aBc"), "3/a/abc");
        assert_eq!(index_file("Serde_Json"), "se/rd/serde_json");
    }

    #[test]
    fn frames() {
        let body = frame(b"{}", b"xyz");
        assert_eq!(body, b"\x02\0\0\0{}\x03\0\0\0xyz");
    }
}

//! The Cargo sparse registry over HTTP with hand-made requests shaped as cargo sends them:
//! `config.json` for public and private owners, publish (the framed body) and how a bad one is
//! refused with nothing stored, every field of the index lines on the four path shapes,
//! revalidation with `ETag` and `Last-Modified`, downloads, yank and unyank, search, owners,
//! the credentials cargo sends, private owners, the package API, the size limit, the S3
//! backend, several instances and the web page's snippets.

use std::collections::BTreeSet;

use forge_e2e::cargo::{
    crate_bytes, dep, download_path, frame, index_lines, index_path, metadata, publish_body,
    put_publish, registry_path,
};
use forge_e2e::cluster::Cluster;
use forge_e2e::{run_scenario, sha256_hex, Auth, Backend, Resp, TestServer, Visibility, ANON};
use forge_e2e::{UserChanges, PASSWORD};
use packages_core::{Limit, PackageType};
use packages_db::{Database, Page, VersionFilter};
use serde_json::{json, Value};

use crate::common::{status, upload_reference_file, user2, with_user2, OWNER};

const CARGO: PackageType = PackageType::new("cargo");

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn start(backend: Backend) -> TestServer {
    let s = TestServer::start(backend);
    with_user2(&s);
    s
}

/// A `write:package` token of user2 as cargo sends it: the bare token in `Authorization`.
fn raw_token(s: &TestServer) -> Auth {
    Auth::Raw(s.token(OWNER, "cargo", "write:package"))
}

/// `{root}/api/packages/user2/cargo` and a path below it.
fn reg(rest: &str) -> String {
    format!("{}/{rest}", registry_path(OWNER))
}

/// Publishes `meta` with `krate` to user2's registry; asserts the 200 and cargo's answer.
#[track_caller]
fn publish_meta(s: &TestServer, auth: &Auth, meta: &Value, krate: &[u8]) {
    let r = put_publish(s, OWNER, auth, &publish_body(meta, krate));
    published(&r);
}

/// Publishes `name` `vers` with the default metadata.
#[track_caller]
fn publish(s: &TestServer, auth: &Auth, name: &str, vers: &str, krate: &[u8]) {
    publish_meta(s, auth, &metadata(name, vers), krate);
}

/// Asserts a successful publish: 200, JSON with a `warnings` object.
#[track_caller]
fn published(r: &Resp) {
    status(r, 200);
    let body = r.json();
    let warnings = body
        .get("warnings")
        .unwrap_or_else(|| panic!("publish answer without warnings: {}", r.describe()));
    assert!(warnings.is_object(), "warnings is not an object: {body}");
    for key in ["invalid_categories", "invalid_badges", "other"] {
        assert!(
            warnings[key].is_array(),
            "warnings.{key} is not an array: {body}"
        );
    }
}

/// Asserts the status and cargo's error envelope, `{"errors":[{"detail": "…"}]}` with a
/// detail that says something; answers the detail.
#[track_caller]
fn cargo_error(r: &Resp, expected: u16) -> String {
    status(r, expected);
    let content_type = r.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "error with Content-Type {content_type:?}: {}",
        r.describe()
    );
    let body = r.json();
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {}", r.describe()));
    assert_eq!(errors.len(), 1, "{body}");
    let detail = errors[0]["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("errors[0].detail is not a string: {body}"));
    assert!(!detail.trim().is_empty(), "empty detail: {body}");
    detail.to_owned()
}

/// Asserts a 401 in cargo's envelope with the challenge that makes cargo send its token and
/// show where to get one.
#[track_caller]
fn cargo_unauthorized(s_base: &str, r: &Resp) {
    cargo_error(r, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Cargo login_url=\"{s_base}/user/settings/applications\"").as_str()),
        "{}",
        r.describe()
    );
}

/// The index file at `path`; asserts 200 and answers its lines.
#[track_caller]
fn index_at(s: &TestServer, path: &str, auth: &Auth) -> Vec<Value> {
    let r = s.get(path, auth);
    status(&r, 200);
    index_lines(&r.text())
}

/// user2's index lines of `name`.
#[track_caller]
fn index(s: &TestServer, name: &str) -> Vec<Value> {
    index_at(s, &index_path(OWNER, name), &ANON)
}

/// The line of `vers` among `lines`.
#[track_caller]
fn line_of<'a>(lines: &'a [Value], vers: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["vers"] == vers)
        .unwrap_or_else(|| panic!("no index line for {vers}: {lines:?}"))
}

/// The `vers` of each line.
fn versions(lines: &[Value]) -> BTreeSet<String> {
    lines
        .iter()
        .map(|l| l["vers"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// One stored Cargo version.
#[derive(Debug)]
struct Row {
    name: String,
    version: String,
    downloads: i64,
}

fn cargo_rows(db: &Database, owner_id: i64) -> Vec<Row> {
    let filter = VersionFilter {
        package_type: Some(CARGO.as_str().to_owned()),
        ..VersionFilter::default()
    };
    let (rows, _) = db
        .list_versions(
            owner_id,
            &filter,
            Page {
                page: 1,
                limit: 10_000,
            },
        )
        .unwrap_or_else(|e| panic!("list cargo versions: {e}"));
    rows.into_iter()
        .map(|l| Row {
            name: l.package.name,
            version: l.version.version,
            downloads: l.version.download_count,
        })
        .collect()
}

/// `owner`'s Cargo versions as `name@version`.
fn stored_of(s: &TestServer, owner: &str) -> BTreeSet<String> {
    cargo_rows(s.db(), s.user_id(owner))
        .into_iter()
        .map(|r| format!("{}@{}", r.name, r.version))
        .collect()
}

/// user2's Cargo versions as `name@version`.
fn stored(s: &TestServer) -> BTreeSet<String> {
    stored_of(s, OWNER)
}

/// The download counter of user2's `name@version`.
fn downloads(s: &TestServer, name: &str, version: &str) -> i64 {
    cargo_rows(s.db(), s.user_id(OWNER))
        .into_iter()
        .find(|r| r.name == name && r.version == version)
        .unwrap_or_else(|| panic!("no stored version {name}@{version}"))
        .downloads
}

/// What a refused request must leave as it was.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    versions: BTreeSet<String>,
    blobs: usize,
    items: Vec<String>,
}

fn snapshot(s: &TestServer) -> Snapshot {
    Snapshot {
        versions: stored(s),
        blobs: s.blob_count(),
        items: s.stored_items(),
    }
}

/// Asserts that nothing was stored since `before`: no version row, no blob, no content and
/// no upload left in progress.
#[track_caller]
fn nothing_stored(s: &TestServer, before: &Snapshot, what: &str) {
    assert_eq!(s.pending_uploads(), 0, "{what} left an upload in progress");
    assert_eq!(&snapshot(s), before, "{what} stored something");
}

/// The yank and unyank URLs of user2's `name` `version`.
fn yank_path(name: &str, version: &str) -> String {
    reg(&format!("api/v1/crates/{name}/{version}/yank"))
}

fn unyank_path(name: &str, version: &str) -> String {
    reg(&format!("api/v1/crates/{name}/{version}/unyank"))
}

/// Asserts cargo's `{"ok": true}`.
#[track_caller]
fn ok_true(r: &Resp) {
    status(r, 200);
    assert_eq!(r.json(), json!({ "ok": true }), "{}", r.describe());
}

/// The metadata of a crate using every field the index carries: a normal dependency from
/// crates.io with features, a renamed one for a target, an optional one named by a `dep:`
/// feature and a weak `?/` feature, a dev and a build dependency, one with no `kind` and no
/// `default_features`, `links` and `rust-version`.
fn full_metadata(name: &str, vers: &str) -> Value {
    let mut serde = dep("serde", "^1.0");
    serde["features"] = json!(["derive"]);
    serde["registry"] = json!("https://github.com/rust-lang/crates.io-index");
    let mut renamed = dep("real-name", "^0.2");
    renamed["explicit_name_in_toml"] = json!("alias");
    renamed["default_features"] = json!(false);
    renamed["target"] = json!("cfg(unix)");
    let mut optional = dep("opt", "=0.1.0");
    optional["optional"] = json!(true);
    let mut dev = dep("tester", "^2");
    dev["kind"] = json!("dev");
    let mut build = dep("cc", ">=1.0, <2");
    build["kind"] = json!("build");
    let bare = json!({ "name": "bare", "version_req": "*" });
    let mut meta = metadata(name, vers);
    meta["deps"] = json!([serde, renamed, optional, dev, build, bare]);
    meta["features"] = json!({
        "default": ["std"],
        "std": [],
        "with-opt": ["dep:opt"],
        "weak": ["opt?/extra"],
    });
    meta["links"] = json!("demo");
    meta["rust_version"] = json!("1.70");
    meta["description"] = json!("A demo crate");
    meta
}

/// The index line [`full_metadata`] must give, for a `.crate` with SHA-256 `cksum`.
fn full_line(name: &str, vers: &str, cksum: &str) -> Value {
    json!({
        "name": name,
        "vers": vers,
        "deps": [
            {
                "name": "serde", "req": "^1.0", "features": ["derive"], "optional": false,
                "default_features": true, "target": null, "kind": "normal",
                "registry": "https://github.com/rust-lang/crates.io-index",
            },
            {
                "name": "alias", "req": "^0.2", "features": [], "optional": false,
                "default_features": false, "target": "cfg(unix)", "kind": "normal",
                "registry": null, "package": "real-name",
            },
            {
                "name": "opt", "req": "=0.1.0", "features": [], "optional": true,
                "default_features": true, "target": null, "kind": "normal", "registry": null,
            },
            {
                "name": "tester", "req": "^2", "features": [], "optional": false,
                "default_features": true, "target": null, "kind": "dev", "registry": null,
            },
            {
                "name": "cc", "req": ">=1.0, <2", "features": [], "optional": false,
                "default_features": true, "target": null, "kind": "build", "registry": null,
            },
            {
                "name": "bare", "req": "*", "features": [], "optional": false,
                "default_features": true, "target": null, "kind": "normal", "registry": null,
            },
        ],
        "cksum": cksum,
        "features": { "default": ["std"], "std": [] },
        "features2": { "with-opt": ["dep:opt"], "weak": ["opt?/extra"] },
        "yanked": false,
        "links": "demo",
        "v": 2,
        "rust_version": "1.70",
    })
}

/// The `ETag` and `Last-Modified` of an index file; asserts both are there.
#[track_caller]
fn validators(r: &Resp) -> (String, String) {
    let etag = r
        .header("etag")
        .unwrap_or_else(|| panic!("index file without ETag: {}", r.describe()))
        .to_owned();
    let modified = r
        .header("last-modified")
        .unwrap_or_else(|| panic!("index file without Last-Modified: {}", r.describe()))
        .to_owned();
    (etag, modified)
}

/// A generic file path of `owner`, to compare the generic registry's answers with.
fn generic_file(owner: &str, file: &str) -> String {
    forge_e2e::file_path(owner, "gen", "1.0.0", file)
}

// ---------------------------------------------------------------------------------------
// config.json
// ---------------------------------------------------------------------------------------

/// `config.json`: absolute `dl` and `api` URLs, `auth-required` false for a public owner and
/// true for a private one; unknown owner 404; a private owner's anonymous request 401 with
/// cargo's login hint, and 200 with the owner's token in every form cargo may send.
fn config_json(backend: Backend) {
    let s = start(backend);
    let r = s.get(&reg("config.json"), &ANON);
    status(&r, 200);
    let content_type = r.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{}",
        r.describe()
    );
    let api = format!("{}/api/packages/{OWNER}/cargo", s.base);
    assert_eq!(
        r.json(),
        json!({
            "dl": format!("{api}/api/v1/crates"),
            "api": api,
            "auth-required": false,
        }),
        "{}",
        r.describe()
    );
    // Credentials change nothing for a public owner.
    let r = s.get(&reg("config.json"), &raw_token(&s));
    status(&r, 200);
    assert_eq!(r.json()["auth-required"], false, "{}", r.describe());

    cargo_error(&s.get("/api/packages/nobody/cargo/config.json", &ANON), 404);

    s.create_user_with_visibility("secret", PASSWORD, Visibility::Private);
    let path = "/api/packages/secret/cargo/config.json";
    cargo_unauthorized(&s.base, &s.get(path, &ANON));
    let token = s.token("secret", "cargo", "write:package");
    let read = s.token("secret", "read", "read:package");
    for auth in [
        Auth::Raw(token.clone()),
        Auth::Raw(read.clone()),
        Auth::bearer(&token),
        Auth::basic("secret", &token),
        Auth::basic("secret", PASSWORD),
    ] {
        let r = s.get(path, &auth);
        status(&r, 200);
        let api = format!("{}/api/packages/secret/cargo", s.base);
        assert_eq!(
            r.json(),
            json!({
                "dl": format!("{api}/api/v1/crates"),
                "api": api,
                "auth-required": true,
            }),
            "as {auth:?}: {}",
            r.describe()
        );
    }
    // A token that is not one is refused, with the hint.
    cargo_unauthorized(&s.base, &s.get(path, &Auth::Raw("not-a-token".to_owned())));
}

// ---------------------------------------------------------------------------------------
// Publish and the index
// ---------------------------------------------------------------------------------------

/// A publish answers 200 with `warnings`; the index line carries every field (dependencies
/// with `req`, the renamed one's alias and crate, default `kind`, `features` and
/// `features2` with `v: 2`, `cksum`, `yanked`, `links`, `rust_version`), at each of the four
/// path shapes, lowercase, keeping the name's case.
fn publish_and_index(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    let krate = crate_bytes("Demo_Crate 1.2.3", 3000);
    publish_meta(&s, &auth, &full_metadata("Demo_Crate", "1.2.3"), &krate);
    assert_eq!(stored(&s), set(&["Demo_Crate@1.2.3"]));
    assert_eq!(s.pending_uploads(), 0);

    let path = reg("de/mo/demo_crate");
    assert_eq!(path, index_path(OWNER, "Demo_Crate"));
    let r = s.get(&path, &ANON);
    status(&r, 200);
    validators(&r);
    let lines = index_lines(&r.text());
    assert_eq!(lines.len(), 1, "{}", r.text());
    assert!(r.text().ends_with('\n'), "{:?}", r.text());
    assert_eq!(
        lines[0],
        full_line("Demo_Crate", "1.2.3", &sha256_hex(&krate)),
        "the index line of Demo_Crate 1.2.3"
    );
    // An index path of another shape does not name the crate.
    for wrong in [
        "1/demo_crate",
        "2/demo_crate",
        "3/d/demo_crate",
        "de/mx/demo_crate",
        "xx/yy/demo_crate",
    ] {
        let r = s.get(&reg(wrong), &ANON);
        assert_eq!(r.status, 404, "GET {wrong}: {}", r.describe());
    }

    // The other three shapes, and a crate without new-syntax features.
    for (name, expected_path) in [("a", "1/a"), ("Ab", "2/ab"), ("aBc", "3/a/abc")] {
        let krate = crate_bytes(name, 200);
        let mut meta = metadata(name, "0.1.0");
        meta["deps"] = json!([dep("serde", "^1")]);
        meta["features"] = json!({ "default": ["serde/std"], "std": [] });
        publish_meta(&s, &auth, &meta, &krate);
        assert_eq!(index_path(OWNER, name), reg(expected_path));
        let lines = index_at(&s, &reg(expected_path), &ANON);
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
        let line = &lines[0];
        assert_eq!(line["name"], name, "{line}");
        assert_eq!(line["vers"], "0.1.0", "{line}");
        assert_eq!(line["cksum"], sha256_hex(&krate), "{line}");
        assert_eq!(line["yanked"], false, "{line}");
        assert_eq!(line["links"], Value::Null, "{line}");
        assert_eq!(
            line["features"],
            json!({ "default": ["serde/std"], "std": [] }),
            "{line}"
        );
        assert!(line.get("features2").is_none(), "{line}");
        assert!(
            line.get("v").is_none() || line["v"] == 1,
            "v without features2: {line}"
        );
        assert!(
            line.get("rust_version").is_none() || line["rust_version"].is_null(),
            "{line}"
        );
        assert_eq!(
            line["deps"],
            json!([{
                "name": "serde", "req": "^1", "features": [], "optional": false,
                "default_features": true, "target": null, "kind": "normal", "registry": null,
            }]),
            "{line}"
        );
    }
    assert_eq!(
        stored(&s),
        set(&["Demo_Crate@1.2.3", "a@0.1.0", "Ab@0.1.0", "aBc@0.1.0"])
    );

    // A second version under another case keeps the first spelling; both lines are there.
    let second = crate_bytes("demo_crate 2.0.0", 100);
    publish(&s, &auth, "demo_crate", "2.0.0", &second);
    let lines = index(&s, "Demo_Crate");
    assert_eq!(versions(&lines), set(&["1.2.3", "2.0.0"]));
    for line in &lines {
        assert_eq!(line["name"], "Demo_Crate", "{line}");
    }
    assert_eq!(line_of(&lines, "2.0.0")["cksum"], sha256_hex(&second));
    assert_eq!(
        line_of(&lines, "1.2.3"),
        &full_line("Demo_Crate", "1.2.3", &sha256_hex(&krate))
    );
}

/// `ETag` with `If-None-Match` and `Last-Modified` with `If-Modified-Since` answer 304; a
/// second publish and a yank change the tag.
fn revalidation(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    publish(&s, &auth, "cached", "1.0.0", &crate_bytes("cached 1", 100));
    let path = index_path(OWNER, "cached");
    let r = s.get(&path, &ANON);
    status(&r, 200);
    let (etag, modified) = validators(&r);
    let first = r.body.clone();

    let r = s.get_with(&path, &ANON, &[("If-None-Match", &etag)]);
    status(&r, 304);
    assert!(r.body.is_empty(), "a 304 with a body: {}", r.describe());
    assert_eq!(r.header("etag"), Some(etag.as_str()), "{}", r.describe());
    let r = s.get_with(&path, &ANON, &[("If-None-Match", "\"something-else\"")]);
    status(&r, 200);
    assert_eq!(r.body, first);
    let r = s.get_with(&path, &ANON, &[("If-Modified-Since", &modified)]);
    status(&r, 304);
    assert!(r.body.is_empty(), "a 304 with a body: {}", r.describe());
    let r = s.get_with(
        &path,
        &ANON,
        &[("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")],
    );
    status(&r, 200);
    assert_eq!(r.body, first);

    // A second version changes the tag.
    publish(&s, &auth, "cached", "1.1.0", &crate_bytes("cached 2", 100));
    let r = s.get_with(&path, &ANON, &[("If-None-Match", &etag)]);
    status(&r, 200);
    let (etag2, _) = validators(&r);
    assert_ne!(etag2, etag, "the ETag did not change after a publish");
    assert_eq!(versions(&index_lines(&r.text())), set(&["1.0.0", "1.1.0"]));
    status(&s.get_with(&path, &ANON, &[("If-None-Match", &etag2)]), 304);

    // A yank changes it again, and so does the unyank.
    ok_true(&s.delete(&yank_path("cached", "1.0.0"), &auth));
    let r = s.get_with(&path, &ANON, &[("If-None-Match", &etag2)]);
    status(&r, 200);
    let (etag3, _) = validators(&r);
    assert_ne!(etag3, etag2, "the ETag did not change after a yank");
    assert_eq!(
        line_of(&index_lines(&r.text()), "1.0.0")["yanked"],
        true,
        "{}",
        r.text()
    );
    status(&s.get_with(&path, &ANON, &[("If-None-Match", &etag3)]), 304);
    ok_true(&s.request(
        "PUT",
        &unyank_path("cached", "1.0.0"),
        &auth,
        &[],
        Some(b""),
    ));
    let r = s.get_with(&path, &ANON, &[("If-None-Match", &etag3)]);
    status(&r, 200);
    assert_eq!(
        line_of(&index_lines(&r.text()), "1.0.0")["yanked"],
        false,
        "{}",
        r.text()
    );
}

/// An unknown crate's index file, download, owners and yank answer 404 in cargo's envelope.
fn unknown_crate(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    for path in [
        index_path(OWNER, "missing"),
        index_path(OWNER, "m"),
        download_path(OWNER, "missing", "1.0.0"),
        reg("api/v1/crates/missing/owners"),
    ] {
        cargo_error(&s.get(&path, &ANON), 404);
    }
    cargo_error(&s.delete(&yank_path("missing", "1.0.0"), &auth), 404);
    // A known crate, an unknown version.
    publish(&s, &auth, "known", "1.0.0", &crate_bytes("known", 50));
    cargo_error(&s.get(&download_path(OWNER, "known", "9.9.9"), &ANON), 404);
    cargo_error(&s.delete(&yank_path("known", "9.9.9"), &auth), 404);
    let r = s.request("PUT", &unyank_path("known", "9.9.9"), &auth, &[], Some(b""));
    cargo_error(&r, 404);
    // An unknown owner's index.
    cargo_error(&s.get(&index_path("nobody", "known"), &ANON), 404);
}

// ---------------------------------------------------------------------------------------
// Refused publishes
// ---------------------------------------------------------------------------------------

/// An invalid name or version, a body cut short (inside the metadata or the crate), one
/// running past the crate's length, and metadata that is not the JSON cargo sends: each 400
/// in cargo's envelope with nothing stored.
fn malformed_publish_stores_nothing(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    let krate = crate_bytes("good", 500);
    let before = snapshot(&s);

    let long = "a".repeat(65);
    for name in [
        "1abc",
        "-abc",
        "_abc",
        "a.b",
        "a b",
        "é",
        "a/b",
        "",
        long.as_str(),
    ] {
        let r = put_publish(
            &s,
            OWNER,
            &auth,
            &publish_body(&metadata(name, "1.0.0"), &krate),
        );
        let detail = cargo_error(&r, 400);
        assert!(!detail.is_empty());
        nothing_stored(&s, &before, &format!("name {name:?}"));
    }
    for vers in ["1.0", "v1.0.0", "1.0.0.0", "01.0.0", "1.0.0-", "", "latest"] {
        let r = put_publish(
            &s,
            OWNER,
            &auth,
            &publish_body(&metadata("good", vers), &krate),
        );
        cargo_error(&r, 400);
        nothing_stored(&s, &before, &format!("version {vers:?}"));
    }

    let json = serde_json::to_vec(&metadata("good", "1.0.0")).expect("json");
    let whole = frame(&json, &krate);
    let mut bad_bodies: Vec<(&str, Vec<u8>)> = vec![
        // The crate shorter than its length.
        ("a truncated crate", whole[..whole.len() - 100].to_vec()),
        (
            "a body ending at the crate's length",
            whole[..8 + json.len()].to_vec(),
        ),
        (
            "a body ending inside the metadata",
            whole[..4 + json.len() / 2].to_vec(),
        ),
        ("a body of two bytes", vec![1, 0]),
        ("an empty body", Vec::new()),
        ("metadata that is not JSON", frame(b"{not json", &krate)),
        ("metadata that is a JSON list", frame(b"[1, 2]", &krate)),
        (
            "metadata without a version",
            frame(br#"{"name": "good", "deps": []}"#, &krate),
        ),
        (
            "metadata without a name",
            frame(br#"{"vers": "1.0.0", "deps": []}"#, &krate),
        ),
    ];
    let mut long_body = whole.clone();
    long_body.extend_from_slice(b"trailing bytes");
    bad_bodies.push(("bytes past the crate's length", long_body));
    for (what, body) in &bad_bodies {
        let r = put_publish(&s, OWNER, &auth, body);
        let detail = cargo_error(&r, 400);
        assert!(!detail.is_empty(), "{what}");
        nothing_stored(&s, &before, what);
        cargo_error(&s.get(&index_path(OWNER, "good"), &ANON), 404);
    }
    // Metadata longer than the registry takes is refused before it is read.
    let mut huge = (17u32 << 20).to_le_bytes().to_vec();
    huge.extend_from_slice(&json);
    cargo_error(&put_publish(&s, OWNER, &auth, &huge), 413);
    nothing_stored(&s, &before, "metadata over 16 MiB");

    // The same crate, framed properly, is taken.
    published(&put_publish(&s, OWNER, &auth, &whole));
    assert_eq!(stored(&s), set(&["good@1.0.0"]));
    let r = s.get(&download_path(OWNER, "good", "1.0.0"), &ANON);
    status(&r, 200);
    assert_eq!(r.body, krate);
}

/// Six publishes of one new version at once: one is taken, the others answer 409, and the
/// index has one line for it, with no content left behind by the refused ones.
fn concurrent_publishes_of_one_version(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    let bodies: Vec<(Vec<u8>, Vec<u8>)> = (0..6)
        .map(|i| {
            let krate = crate_bytes(&format!("race {i}"), 200_000);
            (publish_body(&metadata("Race", "1.0.0"), &krate), krate)
        })
        .collect();
    let answers: Vec<Resp> = std::thread::scope(|scope| {
        let handles: Vec<_> = bodies
            .iter()
            .map(|(body, _)| scope.spawn(|| put_publish(&s, OWNER, &auth, body)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("publishing thread"))
            .collect()
    });
    let taken: Vec<usize> = (0..answers.len())
        .filter(|&i| answers[i].status == 200)
        .collect();
    assert_eq!(
        taken.len(),
        1,
        "{:?}",
        answers.iter().map(Resp::describe).collect::<Vec<_>>()
    );
    for (i, r) in answers.iter().enumerate() {
        if i != taken[0] {
            cargo_error(r, 409);
        }
    }
    let lines = index(&s, "race");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["cksum"], sha256_hex(&bodies[taken[0]].1));
    assert_eq!(stored(&s), set(&["Race@1.0.0"]));
    assert_eq!(s.pending_uploads(), 0);
    assert_eq!(s.blob_count(), 1, "refused publishes left blob rows");
    let r = s.get(&download_path(OWNER, "Race", "1.0.0"), &ANON);
    status(&r, 200);
    assert!(
        r.body == bodies[taken[0]].1,
        "the download is not the crate taken"
    );
}

/// Publishing an existing version answers 409, also under a name of another case, with
/// nothing stored and the first upload untouched.
fn existing_version_is_a_conflict(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    let first = crate_bytes("Demo 1", 300);
    publish(&s, &auth, "Demo", "1.0.0", &first);
    let before = snapshot(&s);
    let other = crate_bytes("Demo 1 again", 300);
    for name in ["Demo", "demo", "DEMO"] {
        let r = put_publish(
            &s,
            OWNER,
            &auth,
            &publish_body(&metadata(name, "1.0.0"), &other),
        );
        cargo_error(&r, 409);
        nothing_stored(&s, &before, &format!("republishing {name} 1.0.0"));
    }
    let lines = index(&s, "demo");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["cksum"], sha256_hex(&first));
    let r = s.get(&download_path(OWNER, "Demo", "1.0.0"), &ANON);
    status(&r, 200);
    assert_eq!(r.body, first);

    // A new version under another case joins the crate, keeping its first spelling.
    publish(&s, &auth, "demo", "1.0.1", &other);
    assert_eq!(stored(&s), set(&["Demo@1.0.0", "Demo@1.0.1"]));
    let lines = index(&s, "Demo");
    assert_eq!(versions(&lines), set(&["1.0.0", "1.0.1"]));
    assert!(lines.iter().all(|l| l["name"] == "Demo"), "{lines:?}");
}

// ---------------------------------------------------------------------------------------
// Downloads, yank
// ---------------------------------------------------------------------------------------

/// A download answers the exact bytes (also of a large crate, and of a yanked version),
/// honours `Range`, and counts.
fn downloads_and_ranges(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    let small = crate_bytes("Dl_Crate 1.0.0", 1000);
    let large = crate_bytes("Dl_Crate 2.0.0", 6 << 20);
    publish(&s, &auth, "Dl_Crate", "1.0.0", &small);
    publish(&s, &auth, "Dl_Crate", "2.0.0", &large);
    assert_eq!(s.pending_uploads(), 0);

    // config.json's `dl` plus `/{name}/{version}/download`, with the name as the index has it.
    let dl = s.get(&reg("config.json"), &ANON).json()["dl"]
        .as_str()
        .expect("dl")
        .to_owned();
    let lines = index(&s, "dl_crate");
    for (vers, data) in [("1.0.0", &small), ("2.0.0", &large)] {
        let line = line_of(&lines, vers);
        assert_eq!(line["cksum"], sha256_hex(data));
        let name = line["name"].as_str().expect("name");
        let url = format!("{dl}/{name}/{vers}/download");
        let path = url
            .strip_prefix(&s.base)
            .unwrap_or_else(|| panic!("dl {dl} is not on {}", s.base));
        assert_eq!(downloads(&s, "Dl_Crate", vers), 0);
        let r = s.get(path, &ANON);
        status(&r, 200);
        assert_eq!(r.body.len(), data.len(), "{vers}");
        assert!(
            r.body == *data,
            "{vers}: the download differs from the crate"
        );
        assert_eq!(sha256_hex(&r.body), line["cksum"]);
        assert_eq!(
            r.header("content-length"),
            Some(data.len().to_string().as_str())
        );
        assert_eq!(downloads(&s, "Dl_Crate", vers), 1, "{vers} was not counted");
    }
    // The lowercase name downloads the same.
    let r = s.get(&download_path(OWNER, "dl_crate", "1.0.0"), &ANON);
    status(&r, 200);
    assert_eq!(r.body, small);

    // Range.
    let path = download_path(OWNER, "Dl_Crate", "1.0.0");
    let r = s.get_with(&path, &ANON, &[("Range", "bytes=100-199")]);
    status(&r, 206);
    assert_eq!(r.body, small[100..200]);
    assert_eq!(
        r.header("content-range"),
        Some("bytes 100-199/1000"),
        "{}",
        r.describe()
    );
    let r = s.get_with(&path, &ANON, &[("Range", "bytes=-10")]);
    status(&r, 206);
    assert_eq!(r.body, small[990..]);

    // A yanked version still downloads.
    ok_true(&s.delete(&yank_path("Dl_Crate", "1.0.0"), &auth));
    let r = s.get(&path, &ANON);
    status(&r, 200);
    assert_eq!(r.body, small);
    assert_eq!(s.pending_uploads(), 0);
}

/// `DELETE …/yank` and `PUT …/unyank` answer `{"ok": true}` and flip the version's flag in
/// the index, leaving the others alone; doing either twice is harmless.
fn yank_and_unyank(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    publish(&s, &auth, "Yanky", "1.0.0", &crate_bytes("y1", 100));
    publish(&s, &auth, "Yanky", "1.1.0", &crate_bytes("y2", 100));
    let flags = |s: &TestServer| -> Vec<(String, bool)> {
        let lines = index(s, "yanky");
        let mut out: Vec<(String, bool)> = lines
            .iter()
            .map(|l| {
                (
                    l["vers"].as_str().unwrap_or("?").to_owned(),
                    l["yanked"]
                        .as_bool()
                        .unwrap_or_else(|| panic!("yanked is not a boolean: {l}")),
                )
            })
            .collect();
        out.sort();
        out
    };
    let v = |a: bool, b: bool| vec![("1.0.0".to_owned(), a), ("1.1.0".to_owned(), b)];
    assert_eq!(flags(&s), v(false, false));
    ok_true(&s.delete(&yank_path("Yanky", "1.0.0"), &auth));
    assert_eq!(flags(&s), v(true, false));
    ok_true(&s.delete(&yank_path("yanky", "1.0.0"), &auth));
    assert_eq!(flags(&s), v(true, false));
    let unyank =
        |name: &str, vers: &str| s.request("PUT", &unyank_path(name, vers), &auth, &[], Some(b""));
    ok_true(&unyank("Yanky", "1.0.0"));
    assert_eq!(flags(&s), v(false, false));
    ok_true(&unyank("Yanky", "1.0.0"));
    assert_eq!(flags(&s), v(false, false));
    ok_true(&s.delete(
        &yank_path("Yanky", "1.1.0"),
        &Auth::bearer(&token_of(&auth)),
    ));
    assert_eq!(flags(&s), v(false, true));
    // The wrong methods are not yank nor unyank.
    let r = s.request("PUT", &yank_path("Yanky", "1.0.0"), &auth, &[], Some(b""));
    assert_eq!(r.status, 405, "{}", r.describe());
    let r = s.delete(&unyank_path("Yanky", "1.1.0"), &auth);
    assert_eq!(r.status, 405, "{}", r.describe());
    assert_eq!(flags(&s), v(false, true));
    assert_eq!(stored(&s), set(&["Yanky@1.0.0", "Yanky@1.1.0"]));
}

fn token_of(auth: &Auth) -> String {
    match auth {
        Auth::Raw(t) | Auth::Token(t) | Auth::Bearer(t) => t.clone(),
        other => panic!("not a token: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Search and owners
// ---------------------------------------------------------------------------------------

/// `GET api/v1/crates?q=&per_page=&page=`: each crate with its name, highest version and
/// description, and the total in `meta`.
fn search(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    let with_description = |name: &str, vers: &str, description: &str| {
        let mut meta = metadata(name, vers);
        meta["description"] = json!(description);
        publish_meta(
            &s,
            &auth,
            &meta,
            &crate_bytes(&format!("{name} {vers}"), 100),
        );
    };
    with_description("alpha-one", "1.0.0", "first alpha");
    with_description("alpha-one", "1.1.0", "first alpha, newer");
    // Published last, yet not the highest.
    with_description("alpha-one", "1.0.1", "first alpha, a fix");
    with_description("alpha-two", "0.1.0", "second alpha");
    with_description("beta", "1.0.0", "the beta");
    upload_reference_file(&s);

    let find = |query: &str| -> Value {
        let r = s.get(&reg(&format!("api/v1/crates?{query}")), &ANON);
        status(&r, 200);
        r.json()
    };
    let names = |body: &Value| -> BTreeSet<String> {
        body["crates"]
            .as_array()
            .unwrap_or_else(|| panic!("no crates array: {body}"))
            .iter()
            .map(|c| c["name"].as_str().unwrap_or("?").to_owned())
            .collect()
    };

    let body = find("q=alpha&per_page=10");
    assert_eq!(names(&body), set(&["alpha-one", "alpha-two"]), "{body}");
    assert_eq!(body["meta"]["total"], 2, "{body}");
    let crates = body["crates"].as_array().expect("crates");
    let two = crates
        .iter()
        .find(|c| c["name"] == "alpha-two")
        .expect("alpha-two");
    assert_eq!(two["max_version"], "0.1.0", "{body}");
    assert_eq!(two["description"], "second alpha", "{body}");

    // Pages.
    let first = find("q=alpha&per_page=1");
    assert_eq!(first["crates"].as_array().map(Vec::len), Some(1), "{first}");
    assert_eq!(first["meta"]["total"], 2, "{first}");
    let second = find("q=alpha&per_page=1&page=2");
    assert_eq!(
        second["crates"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert_eq!(second["meta"]["total"], 2, "{second}");
    let mut both = names(&first);
    both.extend(names(&second));
    assert_eq!(both, set(&["alpha-one", "alpha-two"]));

    // Everything (only crates, not the generic package), and nothing.
    let all = find("q=&per_page=100");
    assert_eq!(
        names(&all),
        set(&["alpha-one", "alpha-two", "beta"]),
        "{all}"
    );
    assert_eq!(all["meta"]["total"], 3, "{all}");
    let none = find("q=gamma");
    assert_eq!(none["crates"], json!([]), "{none}");
    assert_eq!(none["meta"]["total"], 0, "{none}");
    // What cargo search sends: q and per_page.
    let beta = find("q=beta&per_page=10");
    assert_eq!(names(&beta), set(&["beta"]), "{beta}");
    assert_eq!(beta["crates"][0]["max_version"], "1.0.0", "{beta}");
    // A page size that is not a number is refused in cargo's envelope.
    let r = s.get(&reg("api/v1/crates?q=beta&per_page=many"), &ANON);
    cargo_error(&r, 400);

    // `max_version` is the highest version, not the one published last (1.0.1 came after
    // 1.1.0); the description is that version's.
    let one = crates
        .iter()
        .find(|c| c["name"] == "alpha-one")
        .expect("alpha-one");
    assert_eq!(one["max_version"], "1.1.0", "{body}");
    assert_eq!(one["description"], "first alpha, newer", "{body}");
}

/// `GET api/v1/crates/{name}/owners`: the owner as `{id, login, name}`.
fn owners(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    publish(&s, &auth, "Owned", "1.0.0", &crate_bytes("owned", 100));
    let id = s.user_id(OWNER);
    for name in ["Owned", "owned"] {
        let r = s.get(&reg(&format!("api/v1/crates/{name}/owners")), &ANON);
        status(&r, 200);
        assert_eq!(
            r.json(),
            json!({ "users": [{ "id": id, "login": OWNER, "name": OWNER }] }),
            "{}",
            r.describe()
        );
    }
    s.update_user(
        OWNER,
        &UserChanges {
            full_name: Some("User Two".to_owned()),
            ..UserChanges::default()
        },
    );
    let r = s.get(&reg("api/v1/crates/Owned/owners"), &ANON);
    status(&r, 200);
    assert_eq!(
        r.json(),
        json!({ "users": [{ "id": id, "login": OWNER, "name": "User Two" }] }),
        "{}",
        r.describe()
    );
}

// ---------------------------------------------------------------------------------------
// Credentials and who may write
// ---------------------------------------------------------------------------------------

/// cargo's raw token, `Bearer`, `token` and Basic user:token all publish for the owner; a
/// read-only token, another user and anonymous callers cannot publish, yank or unyank, with
/// the generic registry's answer for the same caller.
fn who_may_write(backend: Backend) {
    let s = start(backend);
    s.create_user("user3", PASSWORD, false);
    let token = s.token(OWNER, "cargo", "write:package");
    let accepted = [
        ("a raw token", Auth::Raw(token.clone())),
        ("Bearer", Auth::bearer(&token)),
        ("token", Auth::token(&token)),
        ("Basic user:token", Auth::basic(OWNER, &token)),
        ("Basic user:password", user2()),
    ];
    let mut expected = BTreeSet::new();
    for (i, (who, auth)) in accepted.iter().enumerate() {
        let vers = format!("1.0.{i}");
        let r = put_publish(
            &s,
            OWNER,
            auth,
            &publish_body(&metadata("writable", &vers), &crate_bytes(&vers, 100)),
        );
        assert_eq!(r.status, 200, "publish with {who}: {}", r.describe());
        published(&r);
        expected.insert(format!("writable@{vers}"));
    }
    assert_eq!(stored(&s), expected);
    // The generic registry, for comparison.
    status(&s.put(&generic_file(OWNER, "f.bin"), b"x", &user2()), 201);

    let read = s.token(OWNER, "read", "read:package");
    let other = s.token("user3", "cargo", "write:package");
    let refused = [
        ("anonymous", ANON),
        ("a raw read:package token", Auth::Raw(read.clone())),
        ("a Bearer read:package token", Auth::bearer(&read)),
        ("Basic user:read-token", Auth::basic(OWNER, &read)),
        ("another user's raw token", Auth::Raw(other.clone())),
        ("another user's Bearer token", Auth::bearer(&other)),
        ("another user's password", Auth::basic("user3", PASSWORD)),
        ("a wrong password", Auth::basic(OWNER, "wrong")),
        ("a raw token that is none", Auth::Raw("nonsense".to_owned())),
    ];
    ok_true(&s.delete(&yank_path("writable", "1.0.1"), &user2()));
    let before = snapshot(&s);
    let index_before = s.get(&index_path(OWNER, "writable"), &ANON).body;
    for (who, auth) in &refused {
        let generic_put = s.put(&generic_file(OWNER, "other.bin"), b"y", auth).status;
        let generic_delete = s.delete(&generic_file(OWNER, "f.bin"), auth).status;
        assert!(
            [401, 403].contains(&generic_put) && [401, 403].contains(&generic_delete),
            "the generic registry let {who} write: PUT {generic_put}, DELETE {generic_delete}"
        );
        let body = publish_body(&metadata("writable", "9.0.0"), &crate_bytes("no", 100));
        let answers = [
            ("publish", put_publish(&s, OWNER, auth, &body), generic_put),
            (
                "yank",
                s.delete(&yank_path("writable", "1.0.0"), auth),
                generic_delete,
            ),
            (
                "unyank",
                s.request(
                    "PUT",
                    &unyank_path("writable", "1.0.1"),
                    auth,
                    &[],
                    Some(b""),
                ),
                generic_delete,
            ),
        ];
        for (what, r, generic) in answers {
            assert_eq!(
                r.status,
                generic,
                "{what} by {who}: expected the generic registry's {generic}: {}",
                r.describe()
            );
            cargo_error(&r, generic);
            if r.status == 401 {
                cargo_unauthorized(&s.base, &r);
            }
        }
        nothing_stored(&s, &before, who);
        assert_eq!(
            s.get(&index_path(OWNER, "writable"), &ANON).body,
            index_before,
            "the index changed after refused writes by {who}"
        );
    }
    let anonymous = put_publish(
        &s,
        OWNER,
        &ANON,
        &publish_body(&metadata("writable", "9.0.0"), &crate_bytes("no", 100)),
    );
    cargo_unauthorized(&s.base, &anonymous);

    // Another user's token is good in its own namespace.
    let r = put_publish(
        &s,
        "user3",
        &Auth::Raw(other),
        &publish_body(&metadata("writable", "1.0.0"), &crate_bytes("user3", 100)),
    );
    published(&r);
    assert_eq!(stored_of(&s, "user3"), set(&["writable@1.0.0"]));
}

// ---------------------------------------------------------------------------------------
// Private owners, the package API, limits
// ---------------------------------------------------------------------------------------

/// A private owner's config, index, downloads, search and owners answer 401 anonymously, with
/// cargo's hint, and 200 with the owner's token raw, as `Bearer` or Basic; another user gets
/// what the generic registry answers it.
fn private_owner(backend: Backend) {
    let s = start(backend);
    s.create_user_with_visibility("secret", PASSWORD, Visibility::Private);
    let token = s.token("secret", "cargo", "write:package");
    let read = s.token("secret", "read", "read:package");
    let krate = crate_bytes("hidden", 300);
    let r = put_publish(
        &s,
        "secret",
        &Auth::Raw(token.clone()),
        &publish_body(&metadata("Hidden", "1.0.0"), &krate),
    );
    published(&r);
    status(
        &s.put(
            &generic_file("secret", "f.bin"),
            b"x",
            &Auth::bearer(&token),
        ),
        201,
    );
    let base = registry_path("secret");
    let urls = [
        format!("{base}/config.json"),
        index_path("secret", "Hidden"),
        download_path("secret", "Hidden", "1.0.0"),
        format!("{base}/api/v1/crates?q=hidden&per_page=10"),
        format!("{base}/api/v1/crates/Hidden/owners"),
    ];
    for url in &urls {
        let r = s.get(url, &ANON);
        assert_eq!(r.status, 401, "anonymous GET {url}: {}", r.describe());
        cargo_unauthorized(&s.base, &r);
    }
    for who in [
        Auth::Raw(token.clone()),
        Auth::Raw(read.clone()),
        Auth::bearer(&token),
        Auth::basic("secret", &token),
        Auth::basic("secret", PASSWORD),
    ] {
        for url in &urls {
            let r = s.get(url, &who);
            assert_eq!(r.status, 200, "GET {url} as {who:?}: {}", r.describe());
        }
        let lines = index_at(&s, &index_path("secret", "hidden"), &who);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["name"], "Hidden");
        assert_eq!(lines[0]["cksum"], sha256_hex(&krate));
        assert_eq!(
            s.get(&download_path("secret", "Hidden", "1.0.0"), &who)
                .body,
            krate
        );
        let found = s
            .get(&format!("{base}/api/v1/crates?q=hidden"), &who)
            .json();
        assert_eq!(found["meta"]["total"], 1, "{found}");
        assert_eq!(found["crates"][0]["name"], "Hidden", "{found}");
    }

    // Another user reads what the generic registry lets it read.
    let generic = s.get(&generic_file("secret", "f.bin"), &user2()).status;
    assert_ne!(generic, 200, "user2 reads a private owner's generic file");
    for url in &urls {
        let r = s.get(url, &user2());
        assert_eq!(
            r.status,
            generic,
            "GET {url} as user2: expected the generic registry's {generic}: {}",
            r.describe()
        );
    }
}

/// `/api/v1/packages/{owner}?type=cargo` lists crate versions; deleting a version there
/// removes its index line, and deleting the last one makes the index file 404.
fn package_api_lists_and_deletes(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    let first = crate_bytes("Listed 1.0.0", 100);
    publish(&s, &auth, "Listed", "1.0.0", &first);
    publish(
        &s,
        &auth,
        "Listed",
        "1.1.0",
        &crate_bytes("Listed 1.1.0", 100),
    );
    publish(&s, &auth, "other", "0.1.0", &crate_bytes("other", 100));
    upload_reference_file(&s);

    let r = s.get("/api/v1/packages/user2?type=cargo", &user2());
    status(&r, 200);
    let list = r.json();
    let entries: BTreeSet<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|p| {
            assert_eq!(p["type"], "cargo", "{p}");
            format!(
                "{}@{}",
                p["name"].as_str().unwrap_or("?"),
                p["version"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        entries,
        set(&["Listed@1.0.0", "Listed@1.1.0", "other@0.1.0"]),
        "{list}"
    );
    let r = s.get("/api/v1/packages/user2/cargo/Listed/1.1.0", &user2());
    status(&r, 200);
    assert_eq!(r.json()["name"], "Listed", "{}", r.text());

    let path = index_path(OWNER, "listed");
    let etag = validators(&s.get(&path, &ANON)).0;
    status(
        &s.delete("/api/v1/packages/user2/cargo/Listed/1.0.0", &ANON),
        401,
    );
    status(
        &s.delete("/api/v1/packages/user2/cargo/Listed/1.0.0", &user2()),
        204,
    );
    let r = s.get_with(&path, &ANON, &[("If-None-Match", &etag)]);
    status(&r, 200);
    assert_ne!(
        validators(&r).0,
        etag,
        "the ETag did not change after a delete"
    );
    let lines = index_lines(&r.text());
    assert_eq!(versions(&lines), set(&["1.1.0"]), "{lines:?}");
    cargo_error(&s.get(&download_path(OWNER, "Listed", "1.0.0"), &ANON), 404);
    assert_eq!(stored(&s), set(&["Listed@1.1.0", "other@0.1.0"]));

    status(
        &s.delete("/api/v1/packages/user2/cargo/listed/1.1.0", &user2()),
        204,
    );
    cargo_error(&s.get(&path, &ANON), 404);
    cargo_error(&s.get_with(&path, &ANON, &[("If-None-Match", &etag)]), 404);
    assert_eq!(stored(&s), set(&["other@0.1.0"]));
    let found = s.get(&reg("api/v1/crates?q=listed"), &ANON).json();
    assert_eq!(found["meta"]["total"], 0, "{found}");
    assert_eq!(index(&s, "other").len(), 1);

    // The name is free again.
    publish(&s, &auth, "Listed", "1.0.0", &first);
    assert_eq!(versions(&index(&s, "listed")), set(&["1.0.0"]));
}

/// `[limits] size_cargo` refuses a larger `.crate` as the generic registry refuses a file
/// over its limit (403), keeping nothing; the limit is on the crate, not on the metadata
/// that comes with it; a site admin is exempt.
fn size_limit(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.limits.set_size(CARGO, Limit::AtMost(100)));
    with_user2(&s);
    let auth = raw_token(&s);
    // Metadata far larger than the limit does not count.
    let mut meta = metadata("limited", "1.0.0");
    meta["description"] = json!("d".repeat(5000));
    publish_meta(&s, &auth, &meta, &crate_bytes("exact", 100));
    let before = snapshot(&s);

    // The generic registry's answer to a file over its limit, for comparison.
    let generic = TestServer::start_with(backend, |c| {
        c.limits.set_size(PackageType::Generic, Limit::AtMost(100))
    });
    with_user2(&generic);
    let generic_status = generic
        .put(&generic_file(OWNER, "big.bin"), &[0u8; 101], &user2())
        .status;
    assert_eq!(generic_status, 403);
    drop(generic);

    let large = crate_bytes("large", 101);
    for (name, vers) in [("limited", "1.0.1"), ("big", "1.0.0")] {
        let r = put_publish(
            &s,
            OWNER,
            &auth,
            &publish_body(&metadata(name, vers), &large),
        );
        let detail = cargo_error(&r, generic_status);
        assert!(
            detail.contains("maximum allowed package type size exceeded"),
            "{}",
            r.describe()
        );
        nothing_stored(&s, &before, &format!("{name} {vers} over the limit"));
    }
    cargo_error(&s.get(&index_path(OWNER, "big"), &ANON), 404);
    assert_eq!(versions(&index(&s, "limited")), set(&["1.0.0"]));

    s.create_user("root", PASSWORD, true);
    let r = put_publish(
        &s,
        "root",
        &Auth::basic("root", PASSWORD),
        &publish_body(&metadata("big", "1.0.0"), &large),
    );
    published(&r);
}

// ---------------------------------------------------------------------------------------
// The web page
// ---------------------------------------------------------------------------------------

/// Undoes the HTML escaping of text in a page.
fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// A version's page offers the `.cargo/config.toml` registry snippet and the `Cargo.toml`
/// dependency line.
fn web_page_snippets(backend: Backend) {
    let s = start(backend);
    let auth = raw_token(&s);
    publish_meta(
        &s,
        &auth,
        &full_metadata("Web_Crate", "1.2.3"),
        &crate_bytes("web", 100),
    );
    let page = s.get(&format!("/{OWNER}/-/packages/cargo/Web_Crate/1.2.3"), &ANON);
    status(&page, 200);
    let html = unescape(&page.text());
    for expected in [
        format!(
            "[registries.forge]\nindex = \"sparse+{}/api/packages/{OWNER}/cargo/\"",
            s.base
        ),
        "Web_Crate = { version = \"1.2.3\", registry = \"forge\" }".to_owned(),
        "A demo crate".to_owned(),
        "MIT OR Apache-2.0".to_owned(),
        "1.70".to_owned(),
    ] {
        assert!(html.contains(&expected), "missing {expected:?} in {html}");
    }
}

// ---------------------------------------------------------------------------------------
// Several instances
// ---------------------------------------------------------------------------------------

/// A version published through one instance is in the other's index at once (no wait), its
/// crate downloads there, and a yank through one changes the other's ETag at once.
fn index_on_every_instance(backend: Backend) {
    let c = Cluster::start(backend, 2, &[]);
    c.create_user(OWNER, PASSWORD, false);
    let auth = Auth::Raw(c.token(OWNER, "cargo", "write:package"));
    let (a, b) = (c.at(0), c.at(1));
    let path = index_path(OWNER, "Clustered");

    // B looked first and found nothing.
    cargo_error(&b.get(&path, &ANON), 404);
    let first = crate_bytes("cluster 1", 2000);
    let r = a.put(
        &forge_e2e::cargo::publish_path(OWNER),
        &publish_body(&metadata("Clustered", "1.0.0"), &first),
        &auth,
    );
    published(&r);
    let r = b.get(&path, &ANON);
    status(&r, 200);
    let lines = index_lines(&r.text());
    assert_eq!(versions(&lines), set(&["1.0.0"]), "{}", r.text());
    assert_eq!(lines[0]["cksum"], sha256_hex(&first));
    let etag = r.header("etag").expect("etag").to_owned();
    let r = b.get(&download_path(OWNER, "Clustered", "1.0.0"), &ANON);
    status(&r, 200);
    assert_eq!(r.body, first);

    // A second publish through A, seen by B at once with a new tag.
    let second = crate_bytes("cluster 2", 2000);
    let r = a.put(
        &forge_e2e::cargo::publish_path(OWNER),
        &publish_body(&metadata("clustered", "1.1.0"), &second),
        &auth,
    );
    published(&r);
    let r = b.request("GET", &path, &ANON, &[("If-None-Match", &etag)], None);
    status(&r, 200);
    assert_eq!(versions(&index_lines(&r.text())), set(&["1.0.0", "1.1.0"]));
    let etag2 = r.header("etag").expect("etag").to_owned();
    assert_ne!(etag2, etag);

    // A yank through B, seen by A at once.
    let r = b.delete(
        &format!(
            "{}/api/v1/crates/Clustered/1.0.0/yank",
            registry_path(OWNER)
        ),
        &auth,
    );
    ok_true(&r);
    let r = a.request("GET", &path, &ANON, &[("If-None-Match", &etag2)], None);
    status(&r, 200);
    assert_eq!(
        line_of(&index_lines(&r.text()), "1.0.0")["yanked"],
        true,
        "{}",
        r.text()
    );
    let owner_id = c
        .db()
        .user_by_name(OWNER)
        .expect("look up user2")
        .expect("user2")
        .id;
    let rows: BTreeSet<String> = cargo_rows(c.db(), owner_id)
        .into_iter()
        .map(|r| format!("{}@{}", r.name, r.version))
        .collect();
    assert_eq!(rows, set(&["Clustered@1.0.0", "Clustered@1.1.0"]));
    assert_eq!(c.pending_uploads(), 0);
    assert!(
        c.unreferenced_keys().is_empty(),
        "{:?}",
        c.unreferenced_keys()
    );
}

#[test]
fn cluster_index_on_every_instance_postgres() {
    run_scenario(Backend::Postgres, "cargo_cluster", index_on_every_instance);
}

#[test]
fn cluster_index_on_every_instance_postgres_s3() {
    run_scenario(Backend::Postgres, "cargo_cluster_s3", |_| {
        if forge_e2e::s3::seaweed_or_skip().is_some() {
            index_on_every_instance(Backend::S3);
            forge_e2e::append_marker("FORGE_TEST_S3_MARKER", "cargo_cluster");
        }
    });
}

forge_e2e::backends!(
    config_json,
    publish_and_index,
    revalidation,
    unknown_crate,
    malformed_publish_stores_nothing,
    existing_version_is_a_conflict,
    concurrent_publishes_of_one_version,
    downloads_and_ranges,
    yank_and_unyank,
    search,
    owners,
    who_may_write,
    private_owner,
    package_api_lists_and_deletes,
    size_limit,
    web_page_snippets,
);

forge_e2e::s3_backend!(
    publish_and_index,
    malformed_publish_stores_nothing,
    downloads_and_ranges,
    size_limit,
);

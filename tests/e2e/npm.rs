//! The npm registry over HTTP with hand-made requests shaped as npm, pnpm and yarn send them:
//! publish (unscoped and scoped, every id form) and how a bad publish is refused with nothing
//! stored, who may write, the packument in both forms with its ETag, tarballs at both URLs,
//! dist-tags and the `latest` fallback, deprecation, unpublish, search, private owners, the
//! package API, the size limit, `root_url`, the S3 backend and several instances.

use std::collections::BTreeSet;
use std::time::Duration;

use forge_e2e::cluster::{Cluster, Instance};
use forge_e2e::npm::{base64, id, integrity, publish_doc, publish_doc_tagged, shasum, tarball};
use forge_e2e::{
    run_scenario, sha256_hex, wait_until, Auth, Backend, Resp, TestServer, Visibility, ANON,
    PASSWORD,
};
use packages_core::{Limit, PackageType};
use packages_db::{Database, Page, VersionFilter};
use serde_json::{json, Value};
use sha2::Digest as _;

use crate::common::{status, upload_reference_file, user2, with_user2, OWNER};

const NPM: PackageType = PackageType::new("npm");
/// user2's registry base (what `.npmrc` names, without the root).
const BASE: &str = "/api/packages/user2/npm";
/// The `Accept` header npm sends for the abbreviated packument when it installs.
const ACCEPT_ABBREVIATED: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
/// The abbreviated packument's media type.
const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";
/// How soon another instance must see a change.
const CLUSTER_DELAY: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn start(backend: Backend) -> TestServer {
    let s = TestServer::start(backend);
    with_user2(&s);
    s
}

/// A `write:package` token of user2, sent as `.npmrc`'s `_authToken` is: `Bearer`.
fn bearer(s: &TestServer) -> Auth {
    Auth::bearer(&s.token(OWNER, "npm", "write:package"))
}

/// `{BASE}/{id}`: the packument and publish URL of `name`.
fn pkg_path(name: &str) -> String {
    format!("{BASE}/{}", id(name))
}

/// `{BASE}/-/package/{id}/dist-tags`.
fn tags_path(name: &str) -> String {
    format!("{BASE}/-/package/{}/dist-tags", id(name))
}

fn body_of(doc: &Value) -> Vec<u8> {
    serde_json::to_vec(doc).expect("serialise JSON")
}

/// A `PUT` of a JSON document, as npm sends publishes, deprecations and `-rev` updates.
fn put_doc(s: &TestServer, path: &str, auth: &Auth, doc: &Value) -> Resp {
    s.request(
        "PUT",
        path,
        auth,
        &[("Content-Type", "application/json")],
        Some(&body_of(doc)),
    )
}

/// Publishes `version` of `name` (tagged `latest`) with `data` as its tarball.
#[track_caller]
fn publish(s: &TestServer, auth: &Auth, name: &str, version: &str, data: &[u8]) {
    let r = put_doc(s, &pkg_path(name), auth, &publish_doc(name, version, data));
    status(&r, 201);
}

/// `npm dist-tag add`: the version as a JSON string.
fn put_tag(s: &TestServer, name: &str, tag: &str, version: &str, auth: &Auth) -> Resp {
    s.request(
        "PUT",
        &format!("{}/{tag}", tags_path(name)),
        auth,
        &[("Content-Type", "application/json")],
        Some(format!("\"{version}\"").as_bytes()),
    )
}

/// `npm dist-tag rm`.
fn delete_tag(s: &TestServer, name: &str, tag: &str, auth: &Auth) -> Resp {
    s.delete(&format!("{}/{tag}", tags_path(name)), auth)
}

/// The full packument of `name`; asserts 200.
#[track_caller]
fn packument(s: &TestServer, name: &str, auth: &Auth) -> Value {
    let r = s.get(&pkg_path(name), auth);
    status(&r, 200);
    r.json()
}

/// The abbreviated packument of `name`; asserts 200 and its content type.
#[track_caller]
fn abbreviated(s: &TestServer, name: &str, auth: &Auth) -> Value {
    let r = s.get_with(&pkg_path(name), auth, &[("Accept", ACCEPT_ABBREVIATED)]);
    status(&r, 200);
    let content_type = r.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with(ABBREVIATED),
        "abbreviated packument with Content-Type {content_type:?}: {}",
        r.describe()
    );
    r.json()
}

/// The versions a packument lists.
fn versions_in(doc: &Value) -> BTreeSet<String> {
    doc["versions"]
        .as_object()
        .unwrap_or_else(|| panic!("no versions object: {doc}"))
        .keys()
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The path of the tarball a packument names for `version`, after checking that the URL is
/// absolute and under the registry base `{root}/api/packages/{owner}/npm/` (npm sends the
/// registry's token only to URLs under it).
#[track_caller]
fn tarball_path(doc: &Value, version: &str, root: &str, owner: &str) -> String {
    let url = doc["versions"][version]["dist"]["tarball"]
        .as_str()
        .unwrap_or_else(|| panic!("no dist.tarball for {version}: {doc}"));
    let base = format!("{root}/api/packages/{owner}/npm/");
    assert!(
        url.starts_with(&base),
        "dist.tarball {url:?} is not under the registry base {base:?}"
    );
    url[root.len()..].to_owned()
}

fn last_segment(path: &str) -> String {
    path.rsplit('/').next().unwrap_or_default().to_owned()
}

/// Asserts a 2xx answer.
#[track_caller]
fn success(r: &Resp) {
    assert!(
        (200..300).contains(&r.status),
        "expected a 2xx answer: {}",
        r.describe()
    );
}

/// One stored npm version.
#[derive(Debug)]
struct Row {
    name: String,
    version: String,
    downloads: i64,
    id: i64,
}

fn npm_rows(db: &Database, owner_id: i64) -> Vec<Row> {
    let filter = VersionFilter {
        package_type: Some(NPM.as_str().to_owned()),
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
        .unwrap_or_else(|e| panic!("list npm versions: {e}"));
    rows.into_iter()
        .map(|l| Row {
            name: l.package.name,
            version: l.version.version,
            downloads: l.version.download_count,
            id: l.version.id,
        })
        .collect()
}

/// user2's npm versions as stored.
fn rows(s: &TestServer) -> Vec<Row> {
    npm_rows(s.db(), s.user_id(OWNER))
}

/// user2's npm versions as `name@version`.
fn stored(s: &TestServer) -> BTreeSet<String> {
    rows(s)
        .into_iter()
        .map(|r| format!("{}@{}", r.name, r.version))
        .collect()
}

/// The download counter of user2's `name@version`.
fn downloads(s: &TestServer, name: &str, version: &str) -> i64 {
    rows(s)
        .into_iter()
        .find(|r| r.name == name && r.version == version)
        .unwrap_or_else(|| panic!("no stored version {name}@{version}"))
        .downloads
}

/// Nothing at all is stored: no npm version, no blob row, no upload in progress, nothing in
/// the blob store.
#[track_caller]
fn nothing_stored(s: &TestServer, what: &str) {
    assert!(
        stored(s).is_empty(),
        "{what}: versions stored: {:?}",
        stored(s)
    );
    assert_eq!(s.blob_count(), 0, "{what}: a blob row was kept");
    assert_eq!(s.pending_uploads(), 0, "{what}: an upload was left pending");
    let items = s.stored_items();
    assert!(items.is_empty(), "{what}: content left behind: {items:?}");
}

// ---------------------------------------------------------------------------------------
// Publish and the packument
// ---------------------------------------------------------------------------------------

/// Unscoped and scoped publishes answer 201 and are stored with their tarball; the packument
/// carries `_id`, `name`, `dist-tags`, `time`, each version's manifest fields and `dist`
/// (integrity, shasum, a tarball URL under the registry base that serves the bytes). A scoped
/// id works in every form npm, pnpm and yarn send.
fn publish_and_packument(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    let plain = tarball("plain 1.0.0", 300);
    publish(&s, &auth, "plain", "1.0.0", &plain);
    let scoped = tarball("scoped 1.0.0", 500);
    publish(&s, &auth, "@scope/name", "1.0.0", &scoped);
    assert_eq!(stored(&s), set(&["plain@1.0.0", "@scope/name@1.0.0"]));
    for row in rows(&s) {
        let data = if row.name == "plain" { &plain } else { &scoped };
        let files = s.db().version_files(row.id).expect("files");
        assert_eq!(files.len(), 1, "{row:?}: {files:?}");
        let (_, blob) = &files[0];
        assert_eq!(blob.size, data.len() as i64, "{row:?}");
        assert_eq!(blob.hash_sha256, sha256_hex(data), "{row:?}");
    }

    for (name, data) in [("plain", &plain), ("@scope/name", &scoped)] {
        let r = s.get(&pkg_path(name), &ANON);
        status(&r, 200);
        let content_type = r.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{}",
            r.describe()
        );
        let doc = r.json();
        assert_eq!(doc["_id"], name, "{doc}");
        assert_eq!(doc["name"], name, "{doc}");
        assert_eq!(doc["dist-tags"], json!({ "latest": "1.0.0" }), "{doc}");
        for key in ["created", "modified", "1.0.0"] {
            let t = doc["time"][key]
                .as_str()
                .unwrap_or_else(|| panic!("no time.{key}: {doc}"));
            assert!(
                t.len() >= 19 && t.as_bytes()[10] == b'T',
                "time.{key} {t:?} is not an ISO 8601 date-time"
            );
        }
        assert_eq!(versions_in(&doc), set(&["1.0.0"]), "{doc}");
        let v = &doc["versions"]["1.0.0"];
        assert_eq!(v["_id"], format!("{name}@1.0.0"), "{doc}");
        assert_eq!(v["name"], name, "{doc}");
        assert_eq!(v["version"], "1.0.0", "{doc}");
        assert_eq!(v["description"], "d", "{doc}");
        assert_eq!(v["dependencies"], json!({ "a": "^1" }), "{doc}");
        assert_eq!(v["dist"]["integrity"], integrity(data), "{doc}");
        assert_eq!(v["dist"]["shasum"], shasum(data), "{doc}");
        let path = tarball_path(&doc, "1.0.0", &s.base, OWNER);
        let r = s.get(&path, &ANON);
        status(&r, 200);
        assert_eq!(&r.body, data, "{path}");
    }

    // Every form of a scoped id reads the same package.
    let reference = packument(&s, "@scope/name", &ANON);
    for form in [
        "@scope%2fname",
        "@scope%2Fname",
        "@scope/name",
        "%40scope%2Fname",
    ] {
        let r = s.get(&format!("{BASE}/{form}"), &ANON);
        status(&r, 200);
        let doc = r.json();
        assert_eq!(doc["_id"], "@scope/name", "{form}: {doc}");
        assert_eq!(doc["versions"], reference["versions"], "{form}");
    }
    // And publishes to the same package.
    let v11 = tarball("scoped 1.1.0", 100);
    let r = put_doc(
        &s,
        &format!("{BASE}/@scope%2Fname"),
        &auth,
        &publish_doc("@scope/name", "1.1.0", &v11),
    );
    status(&r, 201);
    let v12 = tarball("scoped 1.2.0", 100);
    let r = put_doc(
        &s,
        &format!("{BASE}/@scope/name"),
        &auth,
        &publish_doc("@scope/name", "1.2.0", &v12),
    );
    status(&r, 201);
    let doc = packument(&s, "@scope/name", &ANON);
    assert_eq!(
        versions_in(&doc),
        set(&["1.0.0", "1.1.0", "1.2.0"]),
        "{doc}"
    );
    assert_eq!(doc["dist-tags"]["latest"], "1.2.0", "{doc}");
    for v in ["1.0.0", "1.1.0", "1.2.0"] {
        assert!(doc["time"][v].is_string(), "no time.{v}: {doc}");
    }
    assert_eq!(doc["versions"]["1.1.0"]["dist"]["shasum"], shasum(&v11));
    assert_eq!(
        stored(&s),
        set(&[
            "plain@1.0.0",
            "@scope/name@1.0.0",
            "@scope/name@1.1.0",
            "@scope/name@1.2.0"
        ])
    );
}

/// The abbreviated packument npm installs from: its own media type, no readme, the fields an
/// install needs. Both forms have an ETag that answers 304 and changes with a new version;
/// `?write=true` is accepted; an unknown package is 404.
fn abbreviated_packument_and_etag(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    let data = tarball("plain 1.0.0", 100);
    publish(&s, &auth, "plain", "1.0.0", &data);

    let full = s.get(&pkg_path("plain"), &ANON);
    status(&full, 200);
    assert!(
        full.text().contains("The readme of plain."),
        "the full packument keeps the readme: {}",
        full.text()
    );

    let abbr = s.get_with(&pkg_path("plain"), &ANON, &[("Accept", ACCEPT_ABBREVIATED)]);
    status(&abbr, 200);
    let content_type = abbr.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with(ABBREVIATED),
        "abbreviated packument with Content-Type {content_type:?}: {}",
        abbr.describe()
    );
    let doc = abbr.json();
    assert_eq!(doc["name"], "plain", "{doc}");
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0", "{doc}");
    let v = &doc["versions"]["1.0.0"];
    assert_eq!(v["version"], "1.0.0", "{doc}");
    assert_eq!(v["dependencies"], json!({ "a": "^1" }), "{doc}");
    assert_eq!(v["dist"]["integrity"], integrity(&data), "{doc}");
    assert_eq!(v["dist"]["shasum"], shasum(&data), "{doc}");
    let path = tarball_path(&doc, "1.0.0", &s.base, OWNER);
    assert_eq!(s.get(&path, &ANON).body, data);
    assert!(
        !abbr.text().contains("The readme of plain.")
            && doc.get("readme").is_none()
            && v.get("readme").is_none(),
        "the abbreviated packument has no readme: {}",
        abbr.text()
    );

    // The bare media type (what some clients send) asks for the same; plain JSON for the full
    // document.
    let r = s.get_with(&pkg_path("plain"), &ANON, &[("Accept", ABBREVIATED)]);
    status(&r, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with(ABBREVIATED),
        "{}",
        r.describe()
    );
    assert!(!r.text().contains("The readme of plain."), "{}", r.text());
    let r = s.get_with(&pkg_path("plain"), &ANON, &[("Accept", "application/json")]);
    status(&r, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{}",
        r.describe()
    );
    assert!(r.text().contains("The readme of plain."), "{}", r.text());

    // ETags: a match is 304 without a body, in either form.
    let etag = full
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag on the packument: {}", full.describe()))
        .to_owned();
    let abbreviated_etag = abbr
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag on the abbreviated packument: {}", abbr.describe()))
        .to_owned();
    assert_ne!(
        etag, abbreviated_etag,
        "the two representations share an ETag"
    );
    let r = s.get_with(&pkg_path("plain"), &ANON, &[("If-None-Match", &etag)]);
    status(&r, 304);
    assert!(r.body.is_empty(), "{}", r.describe());
    let r = s.get_with(
        &pkg_path("plain"),
        &ANON,
        &[
            ("Accept", ACCEPT_ABBREVIATED),
            ("If-None-Match", &abbreviated_etag),
        ],
    );
    status(&r, 304);
    // One form's ETag does not stand for the other.
    let r = s.get_with(
        &pkg_path("plain"),
        &ANON,
        &[("Accept", ACCEPT_ABBREVIATED), ("If-None-Match", &etag)],
    );
    status(&r, 200);
    let r = s.get_with(
        &pkg_path("plain"),
        &ANON,
        &[("If-None-Match", &abbreviated_etag)],
    );
    status(&r, 200);
    // A new version changes both.
    publish(&s, &auth, "plain", "1.1.0", &tarball("plain 1.1.0", 100));
    let r = s.get_with(&pkg_path("plain"), &ANON, &[("If-None-Match", &etag)]);
    status(&r, 200);
    assert_eq!(versions_in(&r.json()), set(&["1.0.0", "1.1.0"]));
    assert_ne!(r.header("etag"), Some(etag.as_str()));
    let r = s.get_with(
        &pkg_path("plain"),
        &ANON,
        &[
            ("Accept", ACCEPT_ABBREVIATED),
            ("If-None-Match", &abbreviated_etag),
        ],
    );
    status(&r, 200);
    assert_eq!(r.json()["dist-tags"]["latest"], "1.1.0");

    // What npm asks before a write.
    let r = s.get(&format!("{}?write=true", pkg_path("plain")), &auth);
    status(&r, 200);
    let doc = r.json();
    assert_eq!(doc["_id"], "plain", "{doc}");
    assert_eq!(versions_in(&doc), set(&["1.0.0", "1.1.0"]));

    // Unknown packages.
    for name in ["nothing-here", "@scope/nothing"] {
        status(&s.get(&pkg_path(name), &ANON), 404);
        status(
            &s.get_with(&pkg_path(name), &ANON, &[("Accept", ACCEPT_ABBREVIATED)]),
            404,
        );
    }
}

/// The same version again is 409 and the first tarball stays what is served.
fn same_version_again_is_a_conflict(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    for name in ["plain", "@scope/name"] {
        let first = tarball(&format!("{name} first"), 200);
        publish(&s, &auth, name, "1.0.0", &first);
        let second = tarball(&format!("{name} second"), 200);
        let r = put_doc(
            &s,
            &pkg_path(name),
            &auth,
            &publish_doc(name, "1.0.0", &second),
        );
        status(&r, 409);
        let doc = packument(&s, name, &ANON);
        assert_eq!(
            doc["versions"]["1.0.0"]["dist"]["integrity"],
            integrity(&first)
        );
        assert_eq!(doc["versions"]["1.0.0"]["dist"]["shasum"], shasum(&first));
        let r = s.get(&tarball_path(&doc, "1.0.0", &s.base, OWNER), &ANON);
        status(&r, 200);
        assert_eq!(r.body, first, "{name}: the first tarball was replaced");
    }
    assert_eq!(stored(&s), set(&["plain@1.0.0", "@scope/name@1.0.0"]));
}

/// Every malformed publish is 400 naming the problem, and nothing of it is stored.
fn malformed_publish_stores_nothing(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    let data = tarball("plain 1.0.0", 200);
    let good = publish_doc("plain", "1.0.0", &data);
    let long = "a".repeat(215);
    let long_scoped = format!("@scope/{}", "a".repeat(208));
    assert_eq!(long_scoped.len(), 215);

    let mut cases: Vec<(String, String, Vec<u8>, &str)> = Vec::new();
    for name in [
        "Plain",
        "@Scope/plain",
        "@scope/Plain",
        long.as_str(),
        long_scoped.as_str(),
    ] {
        cases.push((
            format!("name {name:?}"),
            pkg_path(name),
            body_of(&publish_doc(name, "1.0.0", &data)),
            "name",
        ));
    }
    for version in ["not-a-version", "1.0", "1.0.0.0", "v1.x"] {
        cases.push((
            format!("version {version:?}"),
            pkg_path("plain"),
            body_of(&publish_doc("plain", version, &data)),
            "version",
        ));
    }
    let mut doc = good.clone();
    doc["versions"]["1.0.0"]["dist"]["integrity"] = json!(integrity(b"other bytes"));
    cases.push((
        "integrity mismatch".into(),
        pkg_path("plain"),
        body_of(&doc),
        "integrity",
    ));
    let mut doc = good.clone();
    doc["versions"]["1.0.0"]["dist"]["shasum"] = json!(shasum(b"other bytes"));
    cases.push((
        "shasum mismatch".into(),
        pkg_path("plain"),
        body_of(&doc),
        "shasum",
    ));
    let mut doc = good.clone();
    doc.as_object_mut().expect("object").remove("_attachments");
    cases.push((
        "no _attachments".into(),
        pkg_path("plain"),
        body_of(&doc),
        "attachment",
    ));
    let mut doc = good.clone();
    doc["_attachments"] = json!({});
    cases.push((
        "empty _attachments".into(),
        pkg_path("plain"),
        body_of(&doc),
        "attachment",
    ));
    let mut doc = good.clone();
    doc["_attachments"]["plain-1.0.0.tgz"]["data"] = json!("!!! not base64 !!!");
    cases.push((
        "attachment not base64".into(),
        pkg_path("plain"),
        body_of(&doc),
        "",
    ));
    cases.push((
        "not JSON".into(),
        pkg_path("plain"),
        b"this is not JSON".to_vec(),
        "json",
    ));
    let whole = body_of(&good);
    cases.push((
        "JSON cut short".into(),
        pkg_path("plain"),
        whole[..whole.len() / 2].to_vec(),
        "",
    ));

    for (what, path, body, word) in cases {
        let r = s.request(
            "PUT",
            &path,
            &auth,
            &[("Content-Type", "application/json")],
            Some(&body),
        );
        assert_eq!(r.status, 400, "{what}: {}", r.describe());
        assert!(
            r.text().to_lowercase().contains(word) && !r.text().trim().is_empty(),
            "{what}: the 400 should name the problem ({word:?}): {}",
            r.describe()
        );
        nothing_stored(&s, &what);
    }

    // The same document, well formed, is stored; 214 characters is a valid name.
    publish(&s, &auth, "plain", "1.0.0", &data);
    let longest = "b".repeat(214);
    publish(&s, &auth, &longest, "1.0.0", &data);
    assert_eq!(
        stored(&s),
        set(&["plain@1.0.0", format!("{longest}@1.0.0").as_str()])
    );
}

// ---------------------------------------------------------------------------------------
// Who may write
// ---------------------------------------------------------------------------------------

/// Anonymous callers, a `read:package` token and another user cannot publish, tag, deprecate
/// or unpublish (401, as the generic registry answers); the owner can, with a Bearer token or
/// Basic.
fn who_may_write(backend: Backend) {
    let s = start(backend);
    s.create_user("user3", PASSWORD, false);
    let write = bearer(&s);
    let read = Auth::bearer(&s.token(OWNER, "read", "read:package"));
    let other = Auth::bearer(&s.token("user3", "npm", "write:package"));
    let refused = [
        ("anonymous", ANON),
        ("a read:package token", read.clone()),
        ("another user's token", other.clone()),
        ("another user's password", Auth::basic("user3", PASSWORD)),
        ("a wrong password", Auth::basic(OWNER, "wrong")),
    ];
    let data = tarball("plain 1.0.0", 100);
    let doc = publish_doc("plain", "1.0.0", &data);
    for (who, auth) in &refused {
        let r = put_doc(&s, &pkg_path("plain"), auth, &doc);
        assert_eq!(r.status, 401, "publish by {who}: {}", r.describe());
        nothing_stored(&s, who);
    }
    // Basic and Bearer both publish for the owner.
    status(&put_doc(&s, &pkg_path("plain"), &user2(), &doc), 201);
    publish(&s, &write, "plain", "1.1.0", &tarball("plain 1.1.0", 100));
    // Another user's token is good in its own namespace.
    let r = put_doc(&s, "/api/packages/user3/npm/plain", &other, &doc);
    status(&r, 201);

    let before = packument(&s, "plain", &ANON);
    let mut deprecation = s
        .get(&format!("{}?write=true", pkg_path("plain")), &write)
        .json();
    deprecation["versions"]["1.0.0"]["deprecated"] = json!("do not use");
    deprecation
        .as_object_mut()
        .expect("object")
        .remove("_attachments");
    let file = last_segment(&tarball_path(&before, "1.0.0", &s.base, OWNER));
    for (who, auth) in &refused {
        let answers = [
            ("publish", put_doc(&s, &pkg_path("plain"), auth, &doc)),
            ("dist-tag add", put_tag(&s, "plain", "beta", "1.0.0", auth)),
            ("dist-tag rm", delete_tag(&s, "plain", "latest", auth)),
            (
                "deprecate",
                put_doc(&s, &pkg_path("plain"), auth, &deprecation),
            ),
            (
                "unpublish PUT",
                put_doc(
                    &s,
                    &format!("{}/-rev/undefined", pkg_path("plain")),
                    auth,
                    &before,
                ),
            ),
            (
                "unpublish a version",
                s.delete(
                    &format!("{}/-/1.0.0/{file}/-rev/undefined", pkg_path("plain")),
                    auth,
                ),
            ),
            (
                "unpublish the package",
                s.delete(&format!("{}/-rev/undefined", pkg_path("plain")), auth),
            ),
        ];
        for (action, r) in answers {
            assert_eq!(r.status, 401, "{action} by {who}: {}", r.describe());
        }
    }
    let after = packument(&s, "plain", &ANON);
    assert_eq!(
        after["versions"], before["versions"],
        "a refused write changed the package"
    );
    assert_eq!(after["dist-tags"], before["dist-tags"]);
    assert_eq!(stored(&s), set(&["plain@1.0.0", "plain@1.1.0"]));
}

// ---------------------------------------------------------------------------------------
// Tarballs
// ---------------------------------------------------------------------------------------

/// Tarballs at `dist.tarball` (`{id}/-/{version}/{file}`) and at `{id}/-/{file}` (what older
/// lockfiles pin): the same bytes, the generic download headers, ranges, conditional requests
/// and the download count.
fn tarball_downloads(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    let data = tarball("scoped 1.0.0", 1000);
    publish(&s, &auth, "@scope/name", "1.0.0", &data);
    let plain = tarball("plain 1.0.0", 50);
    publish(&s, &auth, "plain", "1.0.0", &plain);
    let sha = sha256_hex(&data);

    let doc = packument(&s, "@scope/name", &ANON);
    let path = tarball_path(&doc, "1.0.0", &s.base, OWNER);
    let file = last_segment(&path);
    let r = s.get(&path, &ANON);
    status(&r, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("content-length"), Some("1000"), "{}", r.describe());
    assert_eq!(
        r.header("x-checksum-sha256"),
        Some(sha.as_str()),
        "{}",
        r.describe()
    );
    let etag = r
        .header("etag")
        .unwrap_or_else(|| panic!("no ETag on the tarball: {}", r.describe()))
        .to_owned();
    // The SHA-512 of Repr-Digest is what dist.integrity says.
    let digests = format!(
        "sha-256=:{}:, sha-512=:{}:",
        base64(&sha2::Sha256::digest(&data)),
        base64(&sha2::Sha512::digest(&data))
    );
    assert_eq!(
        r.header("repr-digest"),
        Some(digests.as_str()),
        "{}",
        r.describe()
    );

    let older = format!("{BASE}/{}/-/{file}", id("@scope/name"));
    let r = s.get(&older, &ANON);
    status(&r, 200);
    assert_eq!(r.body, data, "{older}");
    assert_eq!(r.header("etag"), Some(etag.as_str()), "{older}");
    assert!(
        wait_until(Duration::from_secs(5), || downloads(
            &s,
            "@scope/name",
            "1.0.0"
        ) == 2),
        "two downloads counted {} times",
        downloads(&s, "@scope/name", "1.0.0")
    );

    for url in [&path, &older] {
        let r = s.get_with(url, &ANON, &[("Range", "bytes=10-19")]);
        status(&r, 206);
        assert_eq!(r.body, &data[10..20], "{url}");
        assert_eq!(r.header("content-range"), Some("bytes 10-19/1000"), "{url}");
        assert_eq!(r.header("repr-digest"), Some(digests.as_str()), "{url}");
        let r = s.get_with(url, &ANON, &[("If-None-Match", &etag)]);
        status(&r, 304);
        let r = s.head(url, &ANON);
        status(&r, 200);
        assert_eq!(r.header("content-length"), Some("1000"), "{url}");
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{url}");
        assert_eq!(r.header("repr-digest"), Some(digests.as_str()), "{url}");
    }
    // The other id forms, as lockfiles written against other registries have them.
    for url in [
        format!("{BASE}/@scope/name/-/{file}"),
        format!("{BASE}/@scope%2Fname/-/{file}"),
        format!("{BASE}/@scope/name/-/1.0.0/{file}"),
        format!("{BASE}/@scope%2Fname/-/1.0.0/{file}"),
    ] {
        let r = s.get(&url, &ANON);
        status(&r, 200);
        assert_eq!(r.body, data, "{url}");
    }
    let plain_doc = packument(&s, "plain", &ANON);
    let plain_path = tarball_path(&plain_doc, "1.0.0", &s.base, OWNER);
    let plain_file = last_segment(&plain_path);
    let r = s.get(&format!("{BASE}/plain/-/{plain_file}"), &ANON);
    status(&r, 200);
    assert_eq!(r.body, plain);

    // What does not exist.
    for url in [
        format!("{BASE}/@scope%2fname/-/9.9.9/{file}"),
        format!("{BASE}/@scope%2fname/-/name-9.9.9.tgz"),
        format!("{BASE}/@scope%2fname/-/1.0.0/{plain_file}"),
        format!("{BASE}/@scope%2fname/-/{plain_file}"),
        format!("{BASE}/nothing/-/nothing-1.0.0.tgz"),
        format!("/api/packages/nobody/npm/plain/-/{plain_file}"),
    ] {
        status(&s.get(&url, &ANON), 404);
    }
}

/// With `root_url` set the tarball URLs start with it (the registry behind a proxy under a
/// path), and the plain path behind the proxy serves them.
fn tarball_urls_follow_root_url(backend: Backend) {
    const ROOT: &str = "https://pkg.example.com/registry";
    let s = TestServer::start_with(backend, |c| c.server.root_url = format!("{ROOT}/"));
    with_user2(&s);
    let auth = bearer(&s);
    let data = tarball("scoped 1.0.0", 100);
    publish(&s, &auth, "@scope/name", "1.0.0", &data);
    for doc in [
        packument(&s, "@scope/name", &ANON),
        abbreviated(&s, "@scope/name", &ANON),
    ] {
        let path = tarball_path(&doc, "1.0.0", ROOT, OWNER);
        let r = s.get(&path, &ANON);
        status(&r, 200);
        assert_eq!(r.body, data);
    }
}

// ---------------------------------------------------------------------------------------
// dist-tags
// ---------------------------------------------------------------------------------------

/// `npm dist-tag ls/add/rm`, and `npm publish --tag`.
fn dist_tags(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    publish(&s, &auth, "plain", "1.0.0", &tarball("plain 1.0.0", 100));
    let r = put_doc(
        &s,
        &pkg_path("plain"),
        &auth,
        &publish_doc_tagged(
            "plain",
            "2.0.0-beta.1",
            &tarball("plain beta", 100),
            &["beta"],
        ),
    );
    status(&r, 201);
    let both = json!({ "latest": "1.0.0", "beta": "2.0.0-beta.1" });
    assert_eq!(packument(&s, "plain", &ANON)["dist-tags"], both);
    assert_eq!(abbreviated(&s, "plain", &ANON)["dist-tags"], both);
    let r = s.get(&tags_path("plain"), &ANON);
    status(&r, 200);
    assert_eq!(r.json(), both);

    success(&put_tag(&s, "plain", "stable", "1.0.0", &auth));
    let r = s.get(&tags_path("plain"), &ANON);
    assert_eq!(
        r.json(),
        json!({ "latest": "1.0.0", "beta": "2.0.0-beta.1", "stable": "1.0.0" })
    );
    assert_eq!(
        packument(&s, "plain", &ANON)["dist-tags"]["stable"],
        "1.0.0"
    );
    // A tag for a version that does not exist.
    status(&put_tag(&s, "plain", "next", "3.0.0", &auth), 404);
    // Tags that read as versions.
    for bad in ["1.0", "v1.0"] {
        status(&put_tag(&s, "plain", bad, "1.0.0", &auth), 400);
        status(&delete_tag(&s, "plain", bad, &auth), 400);
    }
    assert_eq!(
        s.get(&tags_path("plain"), &ANON).json(),
        json!({ "latest": "1.0.0", "beta": "2.0.0-beta.1", "stable": "1.0.0" })
    );
    // latest moves, and back.
    success(&put_tag(&s, "plain", "latest", "2.0.0-beta.1", &auth));
    assert_eq!(
        abbreviated(&s, "plain", &ANON)["dist-tags"]["latest"],
        "2.0.0-beta.1"
    );
    success(&put_tag(&s, "plain", "latest", "1.0.0", &auth));
    assert_eq!(
        packument(&s, "plain", &ANON)["dist-tags"]["latest"],
        "1.0.0"
    );

    // Removal, also of a tag never set.
    status(&delete_tag(&s, "plain", "stable", &auth), 200);
    status(&delete_tag(&s, "plain", "never-set", &auth), 200);
    assert_eq!(s.get(&tags_path("plain"), &ANON).json(), both);
    assert_eq!(packument(&s, "plain", &ANON)["dist-tags"], both);

    // A scoped package through the other id forms.
    publish(&s, &auth, "@scope/name", "1.0.0", &tarball("scoped", 100));
    let r = s.request(
        "PUT",
        &format!("{BASE}/-/package/@scope%2Fname/dist-tags/beta"),
        &auth,
        &[("Content-Type", "application/json")],
        Some(b"\"1.0.0\""),
    );
    success(&r);
    let r = s.get(&format!("{BASE}/-/package/@scope/name/dist-tags"), &ANON);
    status(&r, 200);
    assert_eq!(r.json(), json!({ "latest": "1.0.0", "beta": "1.0.0" }));

    // Unknown packages.
    status(&s.get(&tags_path("nothing"), &ANON), 404);
    status(&put_tag(&s, "nothing", "beta", "1.0.0", &auth), 404);
}

/// `dist-tags` always has `latest`; when the version holding it goes, `latest` falls back to
/// the highest version that is not a prerelease.
fn latest_falls_back(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    // A package whose only version was published under another tag.
    let r = put_doc(
        &s,
        &pkg_path("pre"),
        &auth,
        &publish_doc_tagged("pre", "1.0.0-beta.1", &tarball("pre", 100), &["beta"]),
    );
    status(&r, 201);
    assert_eq!(
        packument(&s, "pre", &ANON)["dist-tags"]["latest"],
        "1.0.0-beta.1"
    );
    assert_eq!(
        abbreviated(&s, "pre", &ANON)["dist-tags"]["latest"],
        "1.0.0-beta.1"
    );

    publish(&s, &auth, "plain", "1.0.0", &tarball("1.0.0", 100));
    publish(&s, &auth, "plain", "1.5.0", &tarball("1.5.0", 100));
    let r = put_doc(
        &s,
        &pkg_path("plain"),
        &auth,
        &publish_doc_tagged("plain", "2.0.0-rc.1", &tarball("rc", 100), &["next"]),
    );
    status(&r, 201);
    let doc = packument(&s, "plain", &ANON);
    assert_eq!(
        doc["dist-tags"],
        json!({ "latest": "1.5.0", "next": "2.0.0-rc.1" })
    );
    // npm unpublish of the version holding latest.
    let file = last_segment(&tarball_path(&doc, "1.5.0", &s.base, OWNER));
    success(&s.delete(
        &format!("{}/-/1.5.0/{file}/-rev/undefined", pkg_path("plain")),
        &auth,
    ));
    for doc in [
        packument(&s, "plain", &ANON),
        abbreviated(&s, "plain", &ANON),
    ] {
        assert_eq!(versions_in(&doc), set(&["1.0.0", "2.0.0-rc.1"]), "{doc}");
        assert_eq!(doc["dist-tags"]["latest"], "1.0.0", "{doc}");
        assert_eq!(doc["dist-tags"]["next"], "2.0.0-rc.1", "{doc}");
    }

    // The highest, not the newest: 1.2.0 is published before 1.1.0.
    publish(&s, &auth, "plain", "1.3.0", &tarball("1.3.0", 100));
    for v in ["1.2.0", "1.1.0"] {
        let tag = format!("old-{v}");
        let r = put_doc(
            &s,
            &pkg_path("plain"),
            &auth,
            &publish_doc_tagged("plain", v, &tarball(v, 100), &[tag.as_str()]),
        );
        status(&r, 201);
    }
    assert_eq!(
        packument(&s, "plain", &ANON)["dist-tags"]["latest"],
        "1.3.0"
    );
    // Removing the tag itself still leaves a `latest` (the highest release).
    let r = delete_tag(&s, "plain", "latest", &auth);
    assert!(r.status < 500, "{}", r.describe());
    assert_eq!(
        packument(&s, "plain", &ANON)["dist-tags"]["latest"],
        "1.3.0"
    );
    success(&put_tag(&s, "plain", "latest", "1.3.0", &auth));
    // Deleted through the package API this time.
    status(
        &s.delete("/api/v1/packages/user2/npm/plain/1.3.0", &user2()),
        204,
    );
    let doc = packument(&s, "plain", &ANON);
    assert_eq!(doc["dist-tags"]["latest"], "1.2.0", "{doc}");
    assert_eq!(
        abbreviated(&s, "plain", &ANON)["dist-tags"]["latest"],
        "1.2.0"
    );
}

// ---------------------------------------------------------------------------------------
// Deprecate and unpublish
// ---------------------------------------------------------------------------------------

/// `npm deprecate`: a PUT of the packument (from `?write=true`, without attachments) with
/// `versions[v].deprecated`; both packument forms show it, nothing else changes, and an empty
/// message clears it.
/// A new version without its tarball, for a package that exists, is a publish that lost its
/// attachment: a 400 naming the version, and nothing changes.
fn new_version_without_tarball_is_refused(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    publish(&s, &auth, "plain", "1.0.0", &tarball("plain 1.0.0", 100));
    let blobs = s.blob_count();
    let mut doc = publish_doc("plain", "2.0.0", &tarball("plain 2.0.0", 100));
    if let Some(o) = doc.as_object_mut() {
        o.remove("_attachments");
    }
    let r = put_doc(&s, &pkg_path("plain"), &auth, &doc);
    status(&r, 400);
    assert!(r.text().contains("2.0.0"), "{}", r.text());
    let after = packument(&s, "plain", &ANON);
    assert_eq!(versions_in(&after), set(&["1.0.0"]));
    assert_eq!(after["dist-tags"], json!({ "latest": "1.0.0" }));
    assert_eq!(s.blob_count(), blobs);
}

fn deprecate_and_undeprecate(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    let data = tarball("plain 1.0.0", 100);
    publish(&s, &auth, "plain", "1.0.0", &data);
    publish(&s, &auth, "plain", "1.1.0", &tarball("plain 1.1.0", 100));
    let blobs = s.blob_count();
    let write_path = format!("{}?write=true", pkg_path("plain"));
    let owner = user2();

    let deprecate = |message: &str, auth: &Auth| -> Resp {
        let r = s.get(&write_path, &owner);
        status(&r, 200);
        let mut doc = r.json();
        doc["versions"]["1.0.0"]["deprecated"] = json!(message);
        if let Some(o) = doc.as_object_mut() {
            o.remove("_attachments");
        }
        put_doc(&s, &pkg_path("plain"), auth, &doc)
    };
    status(&deprecate("use 1.1.0", &ANON), 401);
    assert!(
        packument(&s, "plain", &ANON)["versions"]["1.0.0"]
            .get("deprecated")
            .is_none(),
        "an anonymous deprecation was kept"
    );
    success(&deprecate("use 1.1.0", &auth));
    for doc in [
        packument(&s, "plain", &ANON),
        abbreviated(&s, "plain", &ANON),
    ] {
        assert_eq!(doc["versions"]["1.0.0"]["deprecated"], "use 1.1.0", "{doc}");
        assert!(
            doc["versions"]["1.1.0"]
                .get("deprecated")
                .is_none_or(Value::is_null),
            "{doc}"
        );
        assert_eq!(versions_in(&doc), set(&["1.0.0", "1.1.0"]));
        assert_eq!(doc["dist-tags"], json!({ "latest": "1.1.0" }), "{doc}");
        assert_eq!(
            doc["versions"]["1.0.0"]["dist"]["integrity"],
            integrity(&data)
        );
    }
    assert_eq!(s.blob_count(), blobs);
    assert_eq!(stored(&s), set(&["plain@1.0.0", "plain@1.1.0"]));
    let doc = packument(&s, "plain", &ANON);
    let r = s.get(&tarball_path(&doc, "1.0.0", &s.base, OWNER), &ANON);
    assert_eq!(r.body, data, "a deprecated version still installs");

    // An empty message clears it.
    success(&deprecate("", &auth));
    for doc in [
        packument(&s, "plain", &ANON),
        abbreviated(&s, "plain", &ANON),
    ] {
        let cleared = doc["versions"]["1.0.0"]
            .get("deprecated")
            .is_none_or(|d| d.is_null() || d == "");
        assert!(cleared, "the deprecation was not cleared: {doc}");
    }

    // A scoped package.
    publish(&s, &auth, "@scope/name", "1.0.0", &tarball("scoped", 100));
    let mut doc = s
        .get(&format!("{}?write=true", pkg_path("@scope/name")), &auth)
        .json();
    doc["versions"]["1.0.0"]["deprecated"] = json!("gone");
    doc.as_object_mut().expect("object").remove("_attachments");
    success(&put_doc(&s, &pkg_path("@scope/name"), &auth, &doc));
    assert_eq!(
        packument(&s, "@scope/name", &ANON)["versions"]["1.0.0"]["deprecated"],
        "gone"
    );
}

/// `npm unpublish name@version` (the PUT to `-rev`, then the DELETE of the tarball URL) and
/// `npm unpublish name --force` (DELETE `-rev`), any revision.
fn unpublish(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    publish(&s, &auth, "plain", "1.0.0", &tarball("plain 1.0.0", 100));
    let v11 = tarball("plain 1.1.0", 100);
    publish(&s, &auth, "plain", "1.1.0", &v11);

    let doc = s
        .get(&format!("{}?write=true", pkg_path("plain")), &auth)
        .json();
    let rev = doc["_rev"].as_str().unwrap_or("undefined").to_owned();
    let path10 = tarball_path(&doc, "1.0.0", &s.base, OWNER);
    let path11 = tarball_path(&doc, "1.1.0", &s.base, OWNER);
    let file = last_segment(&path10);
    let delete_version = format!("{}/-/1.0.0/{file}/-rev/{rev}", pkg_path("plain"));
    status(&s.delete(&delete_version, &ANON), 401);
    assert_eq!(stored(&s), set(&["plain@1.0.0", "plain@1.1.0"]));

    // What npm PUTs first: the packument without the version.
    let mut rest = doc.clone();
    rest["versions"]
        .as_object_mut()
        .expect("versions")
        .remove("1.0.0");
    if let Some(time) = rest["time"].as_object_mut() {
        time.remove("1.0.0");
    }
    if let Some(o) = rest.as_object_mut() {
        o.remove("_attachments");
    }
    success(&put_doc(
        &s,
        &format!("{}/-rev/{rev}", pkg_path("plain")),
        &auth,
        &rest,
    ));
    success(&s.delete(&delete_version, &auth));
    for doc in [
        packument(&s, "plain", &ANON),
        abbreviated(&s, "plain", &ANON),
    ] {
        assert_eq!(versions_in(&doc), set(&["1.1.0"]), "{doc}");
        assert_eq!(doc["dist-tags"]["latest"], "1.1.0", "{doc}");
    }
    status(&s.get(&path10, &ANON), 404);
    assert_eq!(s.get(&path11, &ANON).body, v11);
    assert_eq!(stored(&s), set(&["plain@1.1.0"]));

    // The whole package.
    let whole = format!("{}/-rev/undefined", pkg_path("plain"));
    status(&s.delete(&whole, &ANON), 401);
    status(&s.get(&pkg_path("plain"), &ANON), 200);
    success(&s.delete(&whole, &auth));
    status(&s.get(&pkg_path("plain"), &ANON), 404);
    status(&s.get(&path11, &ANON), 404);
    status(&s.get(&tags_path("plain"), &ANON), 404);
    assert!(stored(&s).is_empty(), "{:?}", stored(&s));

    // A scoped package, whole.
    publish(&s, &auth, "@scope/name", "1.0.0", &tarball("scoped 1", 100));
    publish(&s, &auth, "@scope/name", "2.0.0", &tarball("scoped 2", 100));
    success(&s.delete(&format!("{BASE}/@scope%2fname/-rev/3-abc"), &auth));
    status(&s.get(&pkg_path("@scope/name"), &ANON), 404);
    assert!(stored(&s).is_empty(), "{:?}", stored(&s));
}

// ---------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------

fn search_names(doc: &Value) -> Vec<String> {
    doc["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("no objects: {doc}"))
        .iter()
        .map(|o| {
            o["package"]["name"]
                .as_str()
                .unwrap_or_else(|| panic!("no package.name: {doc}"))
                .to_owned()
        })
        .collect()
}

#[track_caller]
fn search(s: &TestServer, query: &str, auth: &Auth) -> Value {
    let r = s.get(&format!("{BASE}/-/v1/search?{query}"), auth);
    status(&r, 200);
    r.json()
}

/// `npm search`: the hits with name, version, scope, description and date, `total` counting
/// every hit, `from`/`size` paging.
fn search_finds_packages(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    publish(&s, &auth, "search-alpha", "1.0.0", &tarball("a1", 100));
    let mut doc = publish_doc("search-alpha", "2.0.0", &tarball("a2", 100));
    doc["description"] = json!("Alpha package");
    doc["versions"]["2.0.0"]["description"] = json!("Alpha package");
    status(&put_doc(&s, &pkg_path("search-alpha"), &auth, &doc), 201);
    publish(&s, &auth, "search-beta", "1.0.0", &tarball("b", 100));
    publish(
        &s,
        &auth,
        "@scope/search-gamma",
        "1.0.0",
        &tarball("g", 100),
    );
    publish(&s, &auth, "other", "1.0.0", &tarball("o", 100));
    // Another owner's package is not among user2's.
    s.create_user("user3", PASSWORD, false);
    let user3 = Auth::bearer(&s.token("user3", "npm", "write:package"));
    let r = put_doc(
        &s,
        "/api/packages/user3/npm/search-delta",
        &user3,
        &publish_doc("search-delta", "1.0.0", &tarball("d", 100)),
    );
    status(&r, 201);

    let all = set(&["search-alpha", "search-beta", "@scope/search-gamma"]);
    let doc = search(&s, "text=search&from=0&size=20", &ANON);
    assert_eq!(doc["total"], 3, "{doc}");
    let names = search_names(&doc);
    assert_eq!(names.len(), 3, "{doc}");
    assert_eq!(names.iter().cloned().collect::<BTreeSet<_>>(), all);
    let hit = |name: &str| -> Value {
        doc["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .find(|o| o["package"]["name"] == name)
            .unwrap_or_else(|| panic!("no hit {name}: {doc}"))["package"]
            .clone()
    };
    let alpha = hit("search-alpha");
    assert_eq!(alpha["version"], "2.0.0", "{alpha}");
    assert_eq!(alpha["description"], "Alpha package", "{alpha}");
    assert_eq!(alpha["scope"], "unscoped", "{alpha}");
    let date = alpha["date"].as_str().unwrap_or_default();
    assert!(
        date.len() >= 19 && date.as_bytes()[10] == b'T',
        "date {date:?}: {alpha}"
    );
    let gamma = hit("@scope/search-gamma");
    assert_eq!(
        gamma["scope"].as_str().map(|x| x.trim_start_matches('@')),
        Some("scope"),
        "{gamma}"
    );
    assert_eq!(gamma["version"], "1.0.0", "{gamma}");

    // Paging.
    let first = search(&s, "text=search&from=0&size=2", &ANON);
    assert_eq!(first["total"], 3, "{first}");
    let second = search(&s, "text=search&from=2&size=2", &ANON);
    assert_eq!(second["total"], 3, "{second}");
    let (a, b) = (search_names(&first), search_names(&second));
    assert_eq!((a.len(), b.len()), (2, 1), "{first} {second}");
    let union: BTreeSet<String> = a.iter().chain(&b).cloned().collect();
    assert_eq!(union, all, "pages overlap or miss a hit: {a:?} {b:?}");

    // No hits; everything.
    let none = search(&s, "text=no-such-package&from=0&size=20", &ANON);
    assert_eq!(none["total"], 0, "{none}");
    assert_eq!(none["objects"], json!([]), "{none}");
    let everything = search(&s, "text=&from=0&size=20", &ANON);
    assert_eq!(everything["total"], 4, "{everything}");
    assert_eq!(search_names(&everything).len(), 4, "{everything}");
}

// ---------------------------------------------------------------------------------------
// Private owners, the package API, limits
// ---------------------------------------------------------------------------------------

/// A private owner's packument, tarballs, dist-tags and search answer 401 anonymously and
/// work with the owner's credentials.
fn private_owner(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user_with_visibility("secret", PASSWORD, Visibility::Private);
    let auth = Auth::bearer(&s.token("secret", "npm", "write:package"));
    let read = Auth::bearer(&s.token("secret", "read", "read:package"));
    let base = "/api/packages/secret/npm";
    let data = tarball("hidden", 100);
    let r = put_doc(
        &s,
        &format!("{base}/hidden"),
        &auth,
        &publish_doc("hidden", "1.0.0", &data),
    );
    status(&r, 201);
    let r = s.get(&format!("{base}/hidden"), &auth);
    status(&r, 200);
    let path = tarball_path(&r.json(), "1.0.0", &s.base, "secret");
    let urls = [
        format!("{base}/hidden"),
        path.clone(),
        format!("{base}/-/v1/search?text=hidden"),
        format!("{base}/-/package/hidden/dist-tags"),
    ];
    for url in &urls {
        let r = s.get(url, &ANON);
        assert_eq!(r.status, 401, "anonymous GET {url}: {}", r.describe());
        let r = s.get_with(url, &ANON, &[("Accept", ACCEPT_ABBREVIATED)]);
        assert_eq!(r.status, 401, "anonymous GET {url}: {}", r.describe());
    }
    for who in [auth, read, Auth::basic("secret", PASSWORD)] {
        for url in &urls {
            let r = s.get(url, &who);
            assert_eq!(r.status, 200, "GET {url} as {who:?}: {}", r.describe());
        }
        assert_eq!(s.get(&path, &who).body, data);
        let r = s.get(&format!("{base}/-/v1/search?text=hidden"), &who);
        assert_eq!(r.json()["total"], 1, "{}", r.text());
    }
}

/// `/api/v1/packages/{owner}?type=npm` lists npm versions; deleting a version there removes
/// it from the packument, for scoped names too.
fn package_api_lists_and_deletes(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    publish(&s, &auth, "plain", "1.0.0", &tarball("plain 1.0.0", 100));
    publish(&s, &auth, "plain", "1.1.0", &tarball("plain 1.1.0", 100));
    publish(&s, &auth, "@scope/name", "1.0.0", &tarball("scoped", 100));
    upload_reference_file(&s);

    let r = s.get("/api/v1/packages/user2?type=npm", &user2());
    status(&r, 200);
    let list = r.json();
    let entries: BTreeSet<String> = list
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|p| {
            assert_eq!(p["type"], "npm", "{p}");
            format!(
                "{}@{}",
                p["name"].as_str().unwrap_or("?"),
                p["version"].as_str().unwrap_or("?")
            )
        })
        .collect();
    assert_eq!(
        entries,
        set(&["plain@1.0.0", "plain@1.1.0", "@scope/name@1.0.0"]),
        "{list}"
    );
    let r = s.get("/api/v1/packages/user2/npm/plain/1.1.0", &user2());
    status(&r, 200);
    assert_eq!(r.json()["name"], "plain", "{}", r.text());

    let doc = packument(&s, "plain", &ANON);
    let path10 = tarball_path(&doc, "1.0.0", &s.base, OWNER);
    status(
        &s.delete("/api/v1/packages/user2/npm/plain/1.0.0", &ANON),
        401,
    );
    status(
        &s.delete("/api/v1/packages/user2/npm/plain/1.0.0", &user2()),
        204,
    );
    let doc = packument(&s, "plain", &ANON);
    assert_eq!(versions_in(&doc), set(&["1.1.0"]), "{doc}");
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0", "{doc}");
    status(&s.get(&path10, &ANON), 404);

    status(
        &s.delete("/api/v1/packages/user2/npm/%40scope%2Fname/1.0.0", &user2()),
        204,
    );
    status(&s.get(&pkg_path("@scope/name"), &ANON), 404);
    assert_eq!(stored(&s), set(&["plain@1.1.0"]));
}

/// `[limits] size_npm` refuses a larger tarball as the generic registry refuses a file over
/// its limit (403), keeping nothing; the limit is on the tarball, not on the document that
/// carries it; a site admin is exempt.
fn size_limit(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.limits.set_size(NPM, Limit::AtMost(100)));
    with_user2(&s);
    let auth = bearer(&s);
    publish(&s, &auth, "plain", "1.0.0", &tarball("exact", 100));
    let blobs = s.blob_count();
    let items = s.stored_items();

    let large = tarball("large", 101);
    for (name, version) in [("plain", "1.0.1"), ("big", "1.0.0")] {
        let r = put_doc(
            &s,
            &pkg_path(name),
            &auth,
            &publish_doc(name, version, &large),
        );
        status(&r, 403);
        assert!(
            r.text()
                .contains("maximum allowed package type size exceeded"),
            "{}",
            r.describe()
        );
        assert_eq!(stored(&s), set(&["plain@1.0.0"]));
        assert_eq!(s.blob_count(), blobs, "a refused tarball left a blob row");
        assert_eq!(s.pending_uploads(), 0);
        assert_eq!(s.stored_items(), items, "a refused tarball left content");
    }
    status(&s.get(&pkg_path("big"), &ANON), 404);
    assert_eq!(versions_in(&packument(&s, "plain", &ANON)), set(&["1.0.0"]));

    s.create_user("root", PASSWORD, true);
    let r = put_doc(
        &s,
        "/api/packages/root/npm/big",
        &Auth::basic("root", PASSWORD),
        &publish_doc("big", "1.0.0", &large),
    );
    status(&r, 201);
}

// ---------------------------------------------------------------------------------------
// Install-shaped flow (also on S3)
// ---------------------------------------------------------------------------------------

/// What `npm install` does against the registry: a package and its dependency from the same
/// registry, each found through its abbreviated packument and fetched at `dist.tarball`,
/// checked against `dist.integrity`; one tarball larger than an S3 part.
fn publish_and_install(backend: Backend) {
    let s = start(backend);
    let auth = bearer(&s);
    let lib = tarball("lib", 4000);
    publish(&s, &auth, "@scope/lib", "1.0.0", &lib);
    let app = tarball("app", 6 << 20);
    let mut doc = publish_doc("app", "1.0.0", &app);
    doc["versions"]["1.0.0"]["dependencies"] = json!({ "@scope/lib": "^1.0.0" });
    status(&put_doc(&s, &pkg_path("app"), &auth, &doc), 201);

    let app_doc = abbreviated(&s, "app", &ANON);
    assert_eq!(
        app_doc["versions"]["1.0.0"]["dependencies"],
        json!({ "@scope/lib": "^1.0.0" })
    );
    for (name, data) in [("app", &app), ("@scope/lib", &lib)] {
        let doc = abbreviated(&s, name, &ANON);
        let latest = doc["dist-tags"]["latest"].as_str().expect("latest");
        assert_eq!(latest, "1.0.0", "{doc}");
        let path = tarball_path(&doc, latest, &s.base, OWNER);
        let r = s.get(&path, &ANON);
        status(&r, 200);
        assert_eq!(
            doc["versions"][latest]["dist"]["integrity"],
            integrity(&r.body),
            "{name}: the tarball does not match dist.integrity"
        );
        assert_eq!(&r.body, data, "{name}");
    }
    assert_eq!(stored(&s), set(&["app@1.0.0", "@scope/lib@1.0.0"]));
    assert_eq!(s.pending_uploads(), 0, "{:?}", s.stored_items());
    assert!(!s.stored_items().is_empty());

    success(&s.delete(&format!("{}/-rev/undefined", pkg_path("app")), &auth));
    status(&s.get(&pkg_path("app"), &ANON), 404);
    assert_eq!(stored(&s), set(&["@scope/lib@1.0.0"]));
}

forge_e2e::backends!(
    publish_and_packument,
    abbreviated_packument_and_etag,
    same_version_again_is_a_conflict,
    malformed_publish_stores_nothing,
    who_may_write,
    tarball_downloads,
    tarball_urls_follow_root_url,
    dist_tags,
    latest_falls_back,
    deprecate_and_undeprecate,
    new_version_without_tarball_is_refused,
    unpublish,
    search_finds_packages,
    private_owner,
    package_api_lists_and_deletes,
    size_limit,
    publish_and_install,
);

forge_e2e::s3_backend!(publish_and_install, tarball_downloads, size_limit);

// ---------------------------------------------------------------------------------------
// Several instances
// ---------------------------------------------------------------------------------------

/// The packument `name` on `instance`, or `None` when it is not 200.
fn packument_on(instance: &Instance, name: &str, headers: &[(&str, &str)]) -> Option<Value> {
    let r = instance.request("GET", &pkg_path(name), &ANON, headers, None);
    (r.status == 200).then(|| r.json())
}

/// Whether `check` holds for what `instance` answers within [`CLUSTER_DELAY`].
fn seen_within(instance: &Instance, mut check: impl FnMut(&Instance) -> bool) -> bool {
    wait_until(CLUSTER_DELAY, || check(instance))
}

/// A publish, a dist-tag change, a deprecation and an unpublish through one instance are
/// seen by the other within a second, also where it had already read the package.
fn changes_seen_by_other_instances(backend: Backend) {
    let c = Cluster::start(backend, 2, &[]);
    c.create_user(OWNER, PASSWORD, false);
    let auth = Auth::bearer(&c.token(OWNER, "npm", "write:package"));
    let (a, b) = (c.at(0), c.at(1));
    let abbreviated: &[(&str, &str)] = &[("Accept", ACCEPT_ABBREVIATED)];

    // B looked first and found nothing.
    status(&b.get(&pkg_path("plain"), &ANON), 404);
    status(&b.get(&tags_path("plain"), &ANON), 404);
    let data = tarball("cluster 1.0.0", 2000);
    let r = a.json(
        "PUT",
        &pkg_path("plain"),
        &auth,
        &publish_doc("plain", "1.0.0", &data).to_string(),
    );
    status(&r, 201);
    assert!(
        seen_within(b, |b| packument_on(b, "plain", &[])
            .is_some_and(|d| d["versions"]["1.0.0"].is_object())),
        "a publish on A was not seen on B within {CLUSTER_DELAY:?}"
    );
    assert!(seen_within(b, |b| packument_on(b, "plain", abbreviated)
        .is_some_and(|d| d["dist-tags"]["latest"] == "1.0.0")));
    let doc = packument_on(b, "plain", &[]).expect("packument on B");
    let path = tarball_path(&doc, "1.0.0", &b.base, OWNER);
    let r = b.get(&path, &ANON);
    status(&r, 200);
    assert_eq!(r.body, data);

    // A dist-tag added on B, read on A which had read the tags.
    let r = a.get(&tags_path("plain"), &ANON);
    status(&r, 200);
    assert_eq!(r.json(), json!({ "latest": "1.0.0" }));
    let r = b.json(
        "PUT",
        &format!("{}/beta", tags_path("plain")),
        &auth,
        "\"1.0.0\"",
    );
    success(&r);
    assert!(
        seen_within(a, |a| {
            let r = a.get(&tags_path("plain"), &ANON);
            r.status == 200 && r.json()["beta"] == "1.0.0"
        }),
        "a dist-tag added on B was not seen on A within {CLUSTER_DELAY:?}"
    );
    assert!(seen_within(a, |a| packument_on(a, "plain", &[])
        .is_some_and(|d| d["dist-tags"]["beta"] == "1.0.0")));

    // A new version on A while B holds the packument.
    assert!(packument_on(b, "plain", &[]).is_some());
    assert!(packument_on(b, "plain", abbreviated).is_some());
    let r = a.json(
        "PUT",
        &pkg_path("plain"),
        &auth,
        &publish_doc("plain", "1.1.0", &tarball("cluster 1.1.0", 100)).to_string(),
    );
    status(&r, 201);
    for headers in [&[][..], abbreviated] {
        assert!(
            seen_within(b, |b| packument_on(b, "plain", headers).is_some_and(|d| {
                d["dist-tags"]["latest"] == "1.1.0" && d["versions"]["1.1.0"].is_object()
            })),
            "a second version on A was not seen on B within {CLUSTER_DELAY:?} ({headers:?})"
        );
    }

    // A dist-tag removed on A.
    let r = a.delete(&format!("{}/beta", tags_path("plain")), &auth);
    status(&r, 200);
    assert!(
        seen_within(b, |b| packument_on(b, "plain", &[])
            .is_some_and(|d| d["dist-tags"].get("beta").is_none())),
        "a dist-tag removed on A was still seen on B after {CLUSTER_DELAY:?}"
    );

    // The whole package unpublished on B.
    let r = b.delete(&format!("{}/-rev/undefined", pkg_path("plain")), &auth);
    success(&r);
    assert!(
        seen_within(a, |a| a.get(&pkg_path("plain"), &ANON).status == 404),
        "an unpublish on B was not seen on A within {CLUSTER_DELAY:?}"
    );
    assert!(npm_rows(c.db(), owner_of(&c)).is_empty());
}

fn owner_of(c: &Cluster) -> i64 {
    c.db()
        .user_by_name(OWNER)
        .expect("look up user2")
        .expect("user2")
        .id
}

#[test]
fn cluster_changes_seen_by_other_instances_postgres() {
    run_scenario(
        Backend::Postgres,
        "npm_cluster",
        changes_seen_by_other_instances,
    );
}

#[test]
fn cluster_changes_seen_by_other_instances_postgres_s3() {
    run_scenario(Backend::Postgres, "npm_cluster_s3", |_| {
        if forge_e2e::s3::seaweed_or_skip().is_some() {
            changes_seen_by_other_instances(Backend::S3);
            forge_e2e::append_marker("FORGE_TEST_S3_MARKER", "npm_cluster");
        }
    });
}

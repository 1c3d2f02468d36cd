//! The `/api/v1/packages` management API (reference §14, §15.2, §16.3 TestPackageAPI): JSON
//! shapes, listing with paging and filters, per-package routes, deletes, and who may read
//! which owner's list. Repository linking is not covered: the registry has no repositories.

use forge_e2e::{file_path, Auth, Backend, Resp, TestServer, ANON, PASSWORD};
use packages_core::PackageType;
use serde_json::Value;

use crate::common::*;
use crate::package_access::{admin_uploads_everywhere, create_fixture, OWNERS};

/// `/api/v1/packages/user4`.
const P: &str = "/api/v1/packages/user4";

fn user4() -> Auth {
    Auth::basic("user4", PASSWORD)
}

/// user4 with a `read:package` token (R) and a `write:package` token (W).
fn with_user4(s: &TestServer) -> (Auth, Auth) {
    s.create_user("user4", PASSWORD, false);
    (
        Auth::token(&s.token("user4", "r", "read:package")),
        Auth::token(&s.token("user4", "w", "write:package")),
    )
}

/// Uploads a one-byte `f.bin` into user4's generic `name/version`.
fn upload(s: &TestServer, name: &str, version: &str) {
    let r = s.put(&file_path("user4", name, version, "f.bin"), b"x", &user4());
    assert_eq!(r.status, 201, "upload {name} {version}: {}", r.describe());
}

/// Asserts a JSON error: the status, a JSON content type and a non-empty `message`.
#[track_caller]
fn json_error(r: &Resp, expected: u16) -> String {
    status(r, expected);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "error body should be JSON: {}",
        r.describe()
    );
    let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(!message.is_empty(), "no message in {}", r.describe());
    message
}

/// The body as a JSON array.
#[track_caller]
fn array(r: &Resp) -> Vec<Value> {
    status(r, 200);
    r.json()
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {}", r.text()))
        .clone()
}

/// `name version` of each listed package version, in order.
fn versions_of(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|p| {
            format!(
                "{} {}",
                p["name"].as_str().unwrap_or("?"),
                p["version"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

#[track_caller]
fn total_count(r: &Resp) -> u64 {
    r.header("x-total-count")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no numeric X-Total-Count: {}", r.describe()))
}

/// The `Link` header as (rel, page) pairs, sorted by rel; every URL must point back at
/// `path` and keep the other query parameters.
#[track_caller]
fn links(r: &Resp, path: &str, keep: &str) -> Vec<(String, u64)> {
    let Some(header) = r.header("link") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for part in header.split(',') {
        let (url, rel) = part
            .split_once(';')
            .unwrap_or_else(|| panic!("bad Link part {part:?} in {header:?}"));
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let rel = rel
            .trim()
            .strip_prefix("rel=")
            .unwrap_or_else(|| panic!("bad rel in {part:?}"))
            .trim_matches('"');
        let (target, query) = url.split_once('?').unwrap_or((url, ""));
        assert!(target.ends_with(path), "Link URL {url:?} is not {path}");
        assert!(
            query.split('&').any(|p| p == keep),
            "Link URL {url:?} lost {keep}"
        );
        let page = query
            .split('&')
            .find_map(|p| p.strip_prefix("page="))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no page in Link URL {url:?}"));
        out.push((rel.to_owned(), page));
    }
    out.sort();
    out
}

/// Expected `Link` relations with their page numbers.
type Rels = &'static [(&'static str, u64)];

fn pairs(expected: &[(&str, u64)]) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = expected.iter().map(|(r, p)| (r.to_string(), *p)).collect();
    v.sort();
    v
}

/// Checks the `Package` JSON of user4's `name version`.
#[track_caller]
fn assert_package(p: &Value, name: &str, version: &str) {
    assert_eq!(p["type"], "generic", "{p}");
    assert_eq!(p["name"], name, "{p}");
    assert_eq!(p["version"], version, "{p}");
    assert_eq!(p["owner"]["login"], "user4", "{p}");
    assert_eq!(p["creator"]["login"], "user4", "{p}");
    assert!(p["id"].as_i64().is_some(), "numeric id: {p}");
    assert!(
        p.get("repository").is_some_and(Value::is_null),
        "repository must be present and null: {p}"
    );
    let html_url = p["html_url"].as_str().unwrap_or_default();
    let suffix = format!(
        "/user4/-/packages/generic/{}/{}",
        name.to_lowercase(),
        version.to_lowercase()
    );
    assert!(html_url.ends_with(&suffix), "html_url {html_url:?}");
    let created = p["created_at"].as_str().unwrap_or_default().as_bytes();
    assert!(
        created.len() >= 20 && created[4] == b'-' && created[10] == b'T',
        "created_at should be RFC 3339: {p}"
    );
}

/// Scenarios 31–34 and 44–48.
fn reference_package_api(backend: Backend) {
    let s = TestServer::start(backend);
    let (r_token, w_token) = with_user4(&s);
    let version = format!("{P}/generic/test-package/1.0.3");

    // 31: an empty file.
    status(
        &s.put(
            "/api/packages/user4/generic/test-package/1.0.3/file.bin",
            b"",
            &user4(),
        ),
        201,
    );

    // 32
    let list = array(&s.get(P, &ANON));
    assert_eq!(list.len(), 1, "{list:?}");
    assert_package(&list[0], "test-package", "1.0.3");
    let id = s
        .stored_version("user4", "test-package", "1.0.3")
        .expect("stored version")
        .id;
    assert_eq!(list[0]["id"], id, "id is the version's id");

    // 33
    json_error(&s.get(&format!("{P}/dummy/test-package/1.0.3"), &ANON), 404);
    json_error(&s.get("/api/v1/packages/nobody", &ANON), 404);

    // 34
    let r = s.get(&version, &ANON);
    status(&r, 200);
    assert_package(&r.json(), "test-package", "1.0.3");
    // The version look-up ignores case.
    let r = s.get(&format!("{P}/generic/TEST-package/1.0.3"), &r_token);
    status(&r, 200);
    assert_eq!(r.json()["id"], id);

    // 44
    json_error(
        &s.get(&format!("{P}/dummy/test-package/1.0.3/files"), &r_token),
        404,
    );

    // 45
    let files = array(&s.get(&format!("{version}/files"), &r_token));
    assert_eq!(files.len(), 1, "{files:?}");
    let f = &files[0];
    assert!(f["id"].as_i64().is_some(), "{f}");
    assert_eq!(f["Size"], 0, "the size key is `Size`: {f}");
    assert_eq!(f["name"], "file.bin");
    assert_eq!(f["md5"], "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(f["sha1"], "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(
        f["sha256"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        f["sha512"],
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    );

    // A token without a package scope is refused with a JSON 403.
    let repo_token = Auth::token(&s.token("user4", "repo", "read:repository"));
    json_error(&s.get(P, &repo_token), 403);

    // 46
    json_error(
        &s.delete(&format!("{P}/dummy/test-package/1.0.3"), &w_token),
        404,
    );
    // 47: anonymous deletes need credentials; the 401 challenges like every other.
    let r = s.delete(&version, &ANON);
    unauthorized(&r);
    json_error(&r, 401);
    // Reading is not enough to delete.
    json_error(&s.delete(&version, &r_token), 403);
    assert!(s.stored_version("user4", "test-package", "1.0.3").is_some());

    // 48
    status(&s.delete(&version, &w_token), 204);
    assert!(s.stored_version("user4", "test-package", "1.0.3").is_none());
    assert_eq!(
        json_error(&s.get(&version, &r_token), 404),
        "package does not exist"
    );
    assert!(array(&s.get(P, &ANON)).is_empty());
    status(
        &s.get(
            "/api/packages/user4/generic/test-package/1.0.3/file.bin",
            &ANON,
        ),
        404,
    );
    json_error(&s.delete(&version, &w_token), 404);
}

/// Scenarios 137–147: user5 with a `read:package` token lists each fixture owner; the API
/// answers 403 where the registry answers 401.
fn v1_access_matrix(backend: Backend) {
    const EXPECTED: [u16; 11] = [200, 200, 200, 200, 403, 200, 200, 200, 403, 200, 200];
    let s = TestServer::start(backend);
    create_fixture(&s);
    admin_uploads_everywhere(&s);
    let read = Auth::token(&s.token("user5", "r", "read:package"));
    let mut failures = Vec::new();
    for (owner, want) in OWNERS.iter().zip(EXPECTED) {
        let r = s.get(&format!("/api/v1/packages/{owner}"), &read);
        if r.status != want {
            failures.push(format!(
                "GET user5 read:package × {owner}: expected {want}, got {} {:?}",
                r.status,
                r.text()
            ));
            continue;
        }
        let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        let fine = if want == 200 {
            body.as_array().is_some_and(|a| {
                a.len() == 1 && a[0]["name"] == "test-package" && a[0]["version"] == "1.0"
            })
        } else {
            body["message"].as_str().is_some_and(|m| !m.is_empty())
        };
        if !fine {
            failures.push(format!(
                "GET user5 read:package × {owner}: unexpected body {:?}",
                r.text()
            ));
        }
    }
    crate::package_access::assert_no_failures("v1 list", &failures);
}

/// Listing: newest first, `limit`/`page` with `X-Total-Count` and `Link`, the `q` and `type`
/// filters.
fn list_paging_and_filters(backend: Backend) {
    let s = TestServer::start(backend);
    with_user4(&s);
    for (name, version) in [
        ("alpha", "1.0"),
        ("alpha", "2.0"),
        ("beta-test", "1.0"),
        ("Gamma-Test", "0.1"),
        ("delta", "3.0"),
    ] {
        upload(&s, name, version);
    }
    let newest_first = [
        "delta 3.0",
        "Gamma-Test 0.1",
        "beta-test 1.0",
        "alpha 2.0",
        "alpha 1.0",
    ];

    let r = s.get(P, &ANON);
    assert_eq!(versions_of(&array(&r)), newest_first);
    assert_eq!(total_count(&r), 5);
    assert!(links(&r, P, "").is_empty(), "one page needs no Link");

    let pages: [(u64, &[&str], Rels); 4] = [
        (1, &newest_first[..2], &[("next", 2), ("last", 3)]),
        (
            2,
            &newest_first[2..4],
            &[("first", 1), ("prev", 1), ("next", 3), ("last", 3)],
        ),
        (3, &newest_first[4..], &[("first", 1), ("prev", 2)]),
        (4, &[], &[("first", 1), ("prev", 3)]),
    ];
    for (page, expected, expected_links) in pages {
        let r = s.get(&format!("{P}?limit=2&page={page}"), &ANON);
        assert_eq!(versions_of(&array(&r)), expected, "page {page}");
        assert_eq!(total_count(&r), 5, "page {page}");
        if page < 4 {
            assert_eq!(
                links(&r, P, "limit=2"),
                pairs(expected_links),
                "Link of page {page}: {:?}",
                r.header("link")
            );
            let exposed = r
                .header("access-control-expose-headers")
                .unwrap_or_default()
                .to_ascii_lowercase();
            assert!(
                exposed.contains("x-total-count") && exposed.contains("link"),
                "Access-Control-Expose-Headers {exposed:?}"
            );
        }
    }

    // `q` matches a part of the name, ignoring case.
    let r = s.get(&format!("{P}?q=test"), &ANON);
    assert_eq!(versions_of(&array(&r)), ["Gamma-Test 0.1", "beta-test 1.0"]);
    assert_eq!(total_count(&r), 2);
    let r = s.get(&format!("{P}?q=alp&limit=1"), &ANON);
    assert_eq!(versions_of(&array(&r)), ["alpha 2.0"]);
    assert_eq!(total_count(&r), 2);

    for all in ["type=generic", "type=all", "type="] {
        let r = s.get(&format!("{P}?{all}"), &ANON);
        assert_eq!(versions_of(&array(&r)), newest_first, "{all}");
    }
    // An unknown type is just a filter nothing matches.
    let r = s.get(&format!("{P}?type=dummy"), &ANON);
    assert!(array(&r).is_empty());
    assert_eq!(total_count(&r), 0);
}

/// Page sizes: 30 by default and for `limit` ≤ 0, at most 50; `page` ≤ 0 is the first page.
fn list_page_sizes(backend: Backend) {
    let s = TestServer::start(backend);
    with_user4(&s);
    s.db()
        .seed_versions(s.user_id("user4"), PackageType::Generic, "seeded", 60)
        .expect("seed versions");
    let first_page = array(&s.get(&format!("{P}?limit=30"), &ANON));
    for (query, expected) in [
        ("", 30),
        ("?limit=0", 30),
        ("?limit=-5", 30),
        ("?limit=50", 50),
        ("?limit=51", 50),
        ("?limit=1000", 50),
        ("?limit=7", 7),
    ] {
        let r = s.get(&format!("{P}{query}"), &ANON);
        assert_eq!(array(&r).len(), expected, "{query}");
        assert_eq!(total_count(&r), 60, "{query}");
    }
    for page in ["0", "-1"] {
        let r = s.get(&format!("{P}?limit=30&page={page}"), &ANON);
        assert_eq!(array(&r), first_page, "page={page}");
    }
    let r = s.get(&format!("{P}?limit=50&page=2"), &ANON);
    assert_eq!(array(&r).len(), 10);
}

/// The per-package routes of newer Gitea: a package's versions, its latest, and deleting it
/// whole.
fn package_routes(backend: Backend) {
    let s = TestServer::start(backend);
    let (r_token, w_token) = with_user4(&s);
    for version in ["1.0", "2.0", "1.5"] {
        upload(&s, "pkg", version);
    }
    upload(&s, "other", "1.0");
    let pkg = format!("{P}/generic/pkg");

    let r = s.get(&pkg, &ANON);
    assert_eq!(versions_of(&array(&r)), ["pkg 1.5", "pkg 2.0", "pkg 1.0"]);
    assert_eq!(total_count(&r), 3);
    let r = s.get(&format!("{pkg}?limit=1&page=2"), &r_token);
    assert_eq!(versions_of(&array(&r)), ["pkg 2.0"]);
    assert_eq!(total_count(&r), 3);
    assert_eq!(
        links(&r, &pkg, "limit=1"),
        pairs(&[("first", 1), ("prev", 1), ("next", 3), ("last", 3)]),
        "{:?}",
        r.header("link")
    );

    // The latest created, not the highest.
    let r = s.get(&format!("{pkg}/-/latest"), &ANON);
    status(&r, 200);
    assert_eq!(r.json()["version"], "1.5", "{}", r.text());
    assert_eq!(r.json()["name"], "pkg");
    let r = s.get(&format!("{P}/generic/PKG/-/latest"), &r_token);
    status(&r, 200);
    assert_eq!(r.json()["version"], "1.5", "the name ignores case");

    for missing in [
        format!("{P}/generic/nothing"),
        format!("{P}/generic/nothing/-/latest"),
        format!("{P}/dummy/pkg"),
        format!("{P}/dummy/pkg/-/latest"),
    ] {
        let r = s.get(&missing, &r_token);
        assert_eq!(r.status, 404, "GET {missing}: {}", r.describe());
        json_error(&r, 404);
    }

    // Deleting the whole package: credentials and the write scope are needed.
    unauthorized(&s.delete(&pkg, &ANON));
    json_error(&s.delete(&pkg, &r_token), 403);
    json_error(&s.delete(&format!("{P}/dummy/pkg"), &w_token), 404);
    assert_eq!(s.stored_versions("user4").len(), 4);
    status(&s.delete(&pkg, &w_token), 204);
    assert_eq!(
        versions_of(&array(&s.get(P, &ANON))),
        ["other 1.0"],
        "only the other package is left"
    );
    json_error(&s.get(&format!("{pkg}/-/latest"), &ANON), 404);
    json_error(&s.get(&pkg, &ANON), 404);
    status(
        &s.get(&file_path("user4", "pkg", "1.5", "f.bin"), &ANON),
        404,
    );
    json_error(&s.delete(&pkg, &w_token), 404);
    // The name is free again.
    upload(&s, "pkg", "1.0");
    let r = s.get(&format!("{pkg}/-/latest"), &ANON);
    status(&r, 200);
    assert_eq!(r.json()["version"], "1.0");
}

forge_e2e::backends!(
    reference_package_api,
    v1_access_matrix,
    list_paging_and_filters,
    list_page_sizes,
    package_routes,
);

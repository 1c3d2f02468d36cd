//! Version manifests, `SHA256SUMS` and the stable latest URLs.

use forge_e2e::{file_path, sha256_hex, version_path, Backend, TestServer, ANON};

use crate::common::*;

fn put(s: &TestServer, name: &str, version: &str, file: &str, body: &[u8]) {
    status(
        &s.put(&file_path(OWNER, name, version, file), body, &user2()),
        201,
    );
}

fn latest_path(name: &str, file: Option<&str>) -> String {
    let base = format!("/api/packages/{OWNER}/generic/{name}/-/latest");
    match file {
        Some(f) => format!("{base}/{}", forge_e2e::seg(f)),
        None => base,
    }
}

#[track_caller]
fn redirects_to(s: &TestServer, name: &str, file: &str, version: &str) {
    let r = s.get(&latest_path(name, Some(file)), &ANON);
    status(&r, 302);
    assert_eq!(
        r.header("location"),
        Some(file_path(OWNER, name, version, file).as_str()),
        "{}",
        r.describe()
    );
    assert_eq!(r.header("cache-control"), Some("no-cache"));
}

fn manifest_and_sums(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let files: [(&str, &[u8]); 3] = [
        ("app.tar.gz", b"the app"),
        ("notes with space.txt", b"notes"),
        ("empty", b""),
    ];
    for (f, body) in files {
        put(&s, "tool", "2.0", f, body);
    }
    let r = s.get(&version_path(OWNER, "tool", "2.0"), &ANON);
    status(&r, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let etag = r.header("etag").expect("ETag").to_owned();
    let doc = r.json();
    assert_eq!(doc["package"], "tool");
    assert_eq!(doc["version"], "2.0");
    let listed = doc["files"].as_array().expect("files");
    assert_eq!(listed.len(), 3);
    for ((f, body), entry) in files.iter().zip(listed) {
        assert_eq!(entry["name"], *f);
        assert_eq!(entry["size"], body.len() as u64);
        assert_eq!(entry["sha256"], sha256_hex(body));
        assert_eq!(entry["sha512"].as_str().map(str::len), Some(128));
        assert!(entry["created"].as_str().unwrap_or_default().ends_with('Z'));
        let url = entry["url"].as_str().expect("url");
        assert_eq!(url, s.url(&file_path(OWNER, "tool", "2.0", f)));
        let got = s.get(url.strip_prefix(&s.base).expect("own URL"), &ANON);
        status(&got, 200);
        assert_eq!(&got.body, body);
    }
    // Cached by ETag until a file is added.
    let r = s.get_with(
        &version_path(OWNER, "tool", "2.0"),
        &ANON,
        &[("If-None-Match", &etag)],
    );
    status(&r, 304);
    put(&s, "tool", "2.0", "more", b"more");
    let r = s.get_with(
        &version_path(OWNER, "tool", "2.0"),
        &ANON,
        &[("If-None-Match", &etag)],
    );
    status(&r, 200);
    assert_eq!(r.json()["files"].as_array().map(Vec::len), Some(4));

    // SHA256SUMS checks out with the real tool against downloaded files.
    let sums_path = format!("{}/-/SHA256SUMS", version_path(OWNER, "tool", "2.0"));
    let r = s.get(&sums_path, &ANON);
    status(&r, 200);
    let sums = r.text();
    assert!(
        sums.contains(&format!("{}  app.tar.gz\n", sha256_hex(b"the app"))),
        "{sums}"
    );
    let sums_etag = r.header("etag").expect("ETag").to_owned();
    status(
        &s.get_with(&sums_path, &ANON, &[("If-None-Match", &sums_etag)]),
        304,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    for (f, _) in files.iter().chain([&("more", &b"more"[..])]) {
        let got = s.get(&file_path(OWNER, "tool", "2.0", f), &ANON);
        std::fs::write(dir.path().join(f), &got.body).expect("write download");
    }
    std::fs::write(dir.path().join("SHA256SUMS"), sums.as_bytes()).expect("write sums");
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir.path())
        .output()
        .expect("run sha256sum");
    assert!(
        check.status.success(),
        "sha256sum -c: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // A changed file makes the check fail, so the check above means something.
    std::fs::write(dir.path().join("more"), b"changed").expect("write");
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(dir.path())
        .output()
        .expect("run sha256sum");
    assert!(!check.status.success());

    // A file named like a generated document is still served as uploaded.
    put(&s, "tool", "3.0", "SHA256SUMS", b"my own sums");
    let r = s.get(&file_path(OWNER, "tool", "3.0", "SHA256SUMS"), &ANON);
    assert_eq!(r.body, b"my own sums");
    // The reserved version cannot be uploaded to.
    let r = s.put(&file_path(OWNER, "tool", "-", "other"), b"x", &user2());
    status_text(&r, 400, "invalid package version");
    status(
        &s.put(&file_path(OWNER, "tool", "-", "latest"), b"x", &user2()),
        405,
    );

    status_text(
        &s.get(&version_path(OWNER, "tool", "9.9"), &ANON),
        404,
        "package does not exist",
    );
    status(
        &s.get(
            &format!("{}/-/SHA256SUMS", version_path(OWNER, "nope", "1")),
            &ANON,
        ),
        404,
    );
}

fn latest_semver_and_creation_order(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    // All SemVer: precedence, not upload order.
    put(&s, "sv", "1.10.0", "f", b"1.10");
    put(&s, "sv", "2.0.0-rc.1", "f", b"rc");
    put(&s, "sv", "1.9.0", "f", b"1.9");
    redirects_to(&s, "sv", "f", "2.0.0-rc.1");
    put(&s, "sv", "2.0.0", "f", b"2.0");
    put(&s, "sv", "1.11.0", "f", b"1.11");
    redirects_to(&s, "sv", "f", "2.0.0");
    let r = s.get(&latest_path("sv", None), &ANON);
    status(&r, 200);
    assert_eq!(r.json()["version"], "2.0.0");
    // Deleting the newest makes the next one newest.
    status(
        &s.delete(&version_path(OWNER, "sv", "2.0.0"), &user2()),
        204,
    );
    redirects_to(&s, "sv", "f", "2.0.0-rc.1");
    // File names match case-insensitively; the redirect names the stored file.
    let r = s.get(&latest_path("sv", Some("F")), &ANON);
    status(&r, 302);
    // A file only older versions have.
    put(&s, "sv", "1.0.0", "old-only", b"x");
    status_text(
        &s.get(&latest_path("sv", Some("old-only")), &ANON),
        404,
        "package file does not exist",
    );

    // One version that is not SemVer: the most recently created wins.
    put(&s, "mixed", "1.10.0", "f", b"a");
    put(&s, "mixed", "nightly-2", "f", b"b");
    put(&s, "mixed", "1.9.0", "f", b"c");
    redirects_to(&s, "mixed", "f", "1.9.0");
    status(
        &s.delete(&version_path(OWNER, "mixed", "1.9.0"), &user2()),
        204,
    );
    redirects_to(&s, "mixed", "f", "nightly-2");
    let r = s.get(&latest_path("mixed", None), &ANON);
    assert_eq!(r.json()["version"], "nightly-2");
    assert_eq!(r.header("cache-control"), Some("private, no-cache"));

    // Following the redirect gives the newest content.
    let r = s.get(&latest_path("mixed", Some("f")), &ANON);
    let target = r.header("location").expect("Location").to_owned();
    assert_eq!(s.get(&target, &ANON).body, b"b");

    status_text(
        &s.get(&latest_path("nothing", Some("f")), &ANON),
        404,
        "package does not exist",
    );
    let r = s.request(
        "PUT",
        &latest_path("sv", Some("f")),
        &user2(),
        &[],
        Some(b"x"),
    );
    status(&r, 405);
}

fn manifests_respect_access(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user_with_visibility(OWNER, forge_e2e::PASSWORD, forge_e2e::Visibility::Private);
    put(&s, "p", "1.0.0", "f", b"x");
    for path in [
        version_path(OWNER, "p", "1.0.0"),
        format!("{}/-/SHA256SUMS", version_path(OWNER, "p", "1.0.0")),
        latest_path("p", None),
        latest_path("p", Some("f")),
    ] {
        unauthorized(&s.get(&path, &ANON));
        let r = s.get(&path, &user2());
        assert!(
            r.status == 200 || r.status == 302,
            "{path}: {}",
            r.describe()
        );
    }
}

forge_e2e::backends!(
    manifest_and_sums,
    latest_semver_and_creation_order,
    manifests_respect_access
);

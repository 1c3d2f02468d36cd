//! The registry's status-code table (reference §10.1) with the project's deliberate
//! differences: every 401 challenges for Basic credentials, over-long fields are a 400,
//! error bodies are short messages.

use forge_e2e::{file_path, Auth, Backend, TestServer, ANON, PASSWORD};
use packages_core::Limit;

use crate::common::*;

fn wrong_credentials_are_rejected(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    upload_reference_file(&s);

    let wrong = [
        Auth::basic(OWNER, "wrong-password"),
        Auth::basic("nosuchuser", PASSWORD),
        Auth::token("0123456789abcdef0123456789abcdef01234567"),
        Auth::bearer("0123456789abcdef0123456789abcdef01234567"),
        Auth::basic("0123456789abcdef0123456789abcdef01234567", ""),
    ];
    for auth in &wrong {
        // Anonymous reads of this package succeed, so wrong credentials must not fall back
        // to anonymous.
        let r = s.get(&uf(FILE), auth);
        assert_eq!(r.status, 401, "GET with {auth:?}: {}", r.describe());
        unauthorized(&r);
        let r = s.put(&uf("new.bin"), CONTENT, auth);
        assert_eq!(r.status, 401, "PUT with {auth:?}: {}", r.describe());
        unauthorized(&r);
        unauthorized(&s.delete(&uf(FILE), auth));
    }
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), 1);
    assert_eq!(s.download_count(OWNER, NAME, VERSION), 0);
}

fn unknown_owner_is_404(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let path = file_path("nobody", "pkg", "1.0", "f.bin");
    for auth in [ANON, user2()] {
        status(&s.get(&path, &auth), 404);
        status(&s.head(&path, &auth), 404);
        status(&s.put(&path, CONTENT, &auth), 404);
        status(&s.delete(&path, &auth), 404);
        status(
            &s.delete("/api/packages/nobody/generic/pkg/1.0", &auth),
            404,
        );
    }
    assert!(s.stored_versions("user2").is_empty());
}

fn anonymous_cannot_write(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    upload_reference_file(&s);
    unauthorized(&s.put(&uf("new.bin"), CONTENT, &ANON));
    unauthorized(&s.delete(&uf(FILE), &ANON));
    unauthorized(&s.delete(&u(), &ANON));
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), 1);
}

/// Credentials, then owner, then permission, then validation, then limits, then duplicates.
fn error_precedence(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.limits
            .set_size(packages_core::PackageType::Generic, Limit::AtMost(5))
    });
    with_user2(&s);
    s.create_user("user3", PASSWORD, false);
    let read_token = s.token(OWNER, "read", "read:package");

    // Wrong credentials beat an unknown owner.
    let ghost = "/api/packages/ghost/generic/bad%20name/1.0/f.bin";
    unauthorized(&s.put(ghost, CONTENT, &Auth::basic(OWNER, "wrong")));
    unauthorized(&s.get(ghost, &Auth::basic(OWNER, "wrong")));
    // An unknown owner beats missing permission and validation.
    status(&s.put(ghost, CONTENT, &ANON), 404);
    status(&s.put(ghost, CONTENT, &user2()), 404);

    // Missing permission beats validation.
    let invalid = "/api/packages/user2/generic/bad%20name/1.0/f.bin";
    unauthorized(&s.put(invalid, CONTENT, &ANON));
    unauthorized(&s.put(invalid, CONTENT, &Auth::basic("user3", PASSWORD)));
    unauthorized(&s.put(invalid, CONTENT, &Auth::token(&read_token)));
    // Validation once allowed.
    status_text(
        &s.put(invalid, CONTENT, &user2()),
        400,
        "invalid package name",
    );

    // A size limit beats the duplicate check; the duplicate check comes last.
    status(&s.put(&uf(FILE), CONTENT, &user2()), 201);
    status_text(
        &s.put(&uf(FILE), b"too large", &user2()),
        403,
        "maximum allowed package type size exceeded",
    );
    status_text(
        &s.put(&uf(FILE), CONTENT, &user2()),
        409,
        "package file already exists",
    );
}

fn invalid_package_names(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    // (raw path segment, what it decodes to)
    for segment in ["-", "a%3Fb", "a%20b", "a%2Fb", "%C3%A4", "a%22b", "..."] {
        let path = format!("/api/packages/user2/generic/{segment}/1.0/f.bin");
        let r = s.put(&path, CONTENT, &user2());
        if segment == "..." {
            // Punctuation-only names of two or more characters are valid.
            status(&r, 201);
            continue;
        }
        assert_eq!(r.status, 400, "name {segment}: {}", r.describe());
        assert_eq!(r.text().trim(), "invalid package name", "name {segment}");
    }
    // Dot segments cannot be sent by a URL-normalising client.
    for segment in [".", ".."] {
        let r = s.raw_simple(
            "PUT",
            &format!("/api/packages/user2/generic/{segment}/1.0/f.bin"),
            &[&basic_line()],
        );
        assert!(
            r.status == 400 || r.status == 404,
            "name {segment:?} must be refused, got {} {:?}",
            r.status,
            r.text()
        );
    }
    assert_eq!(s.stored_versions(OWNER).len(), 1, "only `...` is valid");
}

fn valid_package_names(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    for name in ["a", "1", "a-", "a_b", "c.d+", "A.B-c_D+e"] {
        let r = s.put(&file_path(OWNER, name, "1.0", "f.bin"), CONTENT, &user2());
        assert_eq!(r.status, 201, "name {name}: {}", r.describe());
    }
    let mut names: Vec<String> = s
        .stored_versions(OWNER)
        .into_iter()
        .map(|v| v.package_name)
        .collect();
    names.sort();
    assert_eq!(names, ["1", "A.B-c_D+e", "a", "a-", "a_b", "c.d+"]);
}

fn invalid_file_names(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let base = "/api/packages/user2/generic/pkg/1.0";
    for segment in [
        "a%3Fb",
        "a%2Fb",
        "%20a",
        "a%20",
        "a%7Cb",
        "a%22b",
        "a%5Cb",
        "a%3Cb",
        "a,b",
        "a%2Cb",
        "a%27b",
        "%C3%A4.bin",
        "a%60b",
        "a*b",
    ] {
        let r = s.put(&format!("{base}/{segment}"), CONTENT, &user2());
        assert_eq!(r.status, 400, "file {segment}: {}", r.describe());
        assert_eq!(r.text().trim(), "invalid filename", "file {segment}");
    }
    for segment in [".", ".."] {
        let r = s.raw_simple("PUT", &format!("{base}/{segment}"), &[&basic_line()]);
        assert!(
            r.status == 400 || r.status == 404 || r.status == 405,
            "file {segment:?} must be refused, got {} {:?}",
            r.status,
            r.text()
        );
    }
    assert!(s.stored_versions(OWNER).is_empty());
}

fn valid_file_names(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let names = [
        "-",
        "a",
        "1",
        "a-",
        "a_b",
        "a b",
        "c.d+",
        "-_+=:;.()[]{}~!@#$%^& aA1",
    ];
    for name in names {
        let path = file_path(OWNER, "pkg", "1.0", name);
        let r = s.put(&path, name.as_bytes(), &user2());
        assert_eq!(r.status, 201, "file {name:?}: {}", r.describe());
        let r = s.get(&path, &ANON);
        assert_eq!(r.status, 200, "file {name:?}: {}", r.describe());
        assert_eq!(r.body, name.as_bytes());
    }
    let mut stored: Vec<String> = s
        .stored_package_files(OWNER, "pkg", "1.0")
        .into_iter()
        .map(|f| f.name)
        .collect();
    stored.sort();
    let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    expected.sort();
    assert_eq!(stored, expected);
}

fn versions(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let base = "/api/packages/user2/generic/pkg";
    for segment in ["%20test%20", "%201.0", "1.0%20", "1.0%C2%A0"] {
        let r = s.put(&format!("{base}/{segment}/f.bin"), CONTENT, &user2());
        assert_eq!(r.status, 400, "version {segment}: {}", r.describe());
        assert_eq!(
            r.text().trim(),
            "invalid package version",
            "version {segment}"
        );
    }
    // Control characters are refused before the format's rules, with their own message
    // (a deliberate difference: Forgejo says "invalid package version" for these two).
    for segment in ["%091.0", "1.0%0A"] {
        let r = s.put(&format!("{base}/{segment}/f.bin"), CONTENT, &user2());
        assert_eq!(r.status, 400, "version {segment}: {}", r.describe());
        assert!(r.text().contains("control characters"), "{}", r.describe());
    }
    assert!(s.stored_versions(OWNER).is_empty());

    // Anything else goes, decoded once: `%2F` gives a slash, `+` stays `+`, UTF-8 is kept.
    let valid = [
        ("1.0%2Fbeta", "1.0/beta"),
        ("1.0+build", "1.0+build"),
        ("v%201%20beta", "v 1 beta"),
        ("%C3%BCber-%E2%9C%93", "über-✓"),
        ("NOT-semver", "NOT-semver"),
    ];
    for (segment, version) in valid {
        let path = format!("{base}/{segment}/f.bin");
        let r = s.put(&path, version.as_bytes(), &user2());
        assert_eq!(r.status, 201, "version {segment}: {}", r.describe());
        let r = s.get(&path, &ANON);
        assert_eq!(r.status, 200, "version {segment}: {}", r.describe());
        assert_eq!(r.body, version.as_bytes());
    }
    let mut stored: Vec<String> = s
        .stored_versions(OWNER)
        .into_iter()
        .map(|v| v.version)
        .collect();
    stored.sort();
    let mut expected: Vec<String> = valid.iter().map(|(_, v)| v.to_string()).collect();
    expected.sort();
    assert_eq!(stored, expected);
}

/// 255 bytes is the most a name, version or file name may have; more is a 400, not a
/// database error.
fn field_lengths(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let max = "a".repeat(255);
    let over = "a".repeat(256);

    status(
        &s.put(&file_path(OWNER, &max, "1", "f"), CONTENT, &user2()),
        201,
    );
    status(
        &s.put(&file_path(OWNER, "p", &max, "f"), CONTENT, &user2()),
        201,
    );
    status(
        &s.put(&file_path(OWNER, "p", "1", &max), CONTENT, &user2()),
        201,
    );
    assert_eq!(s.stored_package_files(OWNER, "p", "1")[0].name, max);

    let too_long = [
        file_path(OWNER, &over, "1", "f"),
        file_path(OWNER, "p", &over, "f"),
        file_path(OWNER, "p", "1", &over),
        // 128 two-byte characters: 128 characters but 256 bytes.
        file_path(OWNER, "p", &"é".repeat(128), "f"),
    ];
    for path in &too_long {
        let r = s.put(path, CONTENT, &user2());
        assert_eq!(r.status, 400, "{}", r.describe());
        assert!(
            !r.body.is_empty() && r.body.len() < 200,
            "expected a short message: {}",
            r.describe()
        );
    }
    assert_eq!(s.stored_versions(OWNER).len(), 3);
}

fn method_not_allowed(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    status(&s.put(&uf(FILE), CONTENT, &user2()), 201);

    for method in ["POST", "PATCH"] {
        let r = s.request(method, &uf(FILE), &user2(), &[], Some(CONTENT));
        assert_eq!(r.status, 405, "{method} on a file URL: {}", r.describe());
        let allow = r.header("allow").unwrap_or_default().to_ascii_uppercase();
        for m in ["GET", "PUT", "DELETE"] {
            assert!(allow.contains(m), "Allow {allow:?} lacks {m}");
        }
    }
    // GET on a version URL is the manifest (an extension); other methods stay refused.
    let r = s.request("POST", &u(), &user2(), &[], Some(CONTENT));
    assert_eq!(r.status, 405, "POST on a version URL: {}", r.describe());
    assert!(
        r.header("allow")
            .unwrap_or_default()
            .to_ascii_uppercase()
            .contains("DELETE"),
        "{}",
        r.describe()
    );
    let r = s.put(&u(), CONTENT, &user2());
    assert_eq!(r.status, 405, "PUT on a version URL: {}", r.describe());
    // Nothing changed.
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), 1);
}

fn unmatched_paths(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    status(&s.put(&uf(FILE), CONTENT, &user2()), 201);
    for path in [
        "/api/packages/user2/generic/te-st_pac.kage",
        "/api/packages/user2/generic",
        "/api/packages/user2/generic/te-st_pac.kage/1.0.3-te%20st/fi-le_na.me/extra",
        "/api/packages/user2/npm/te-st_pac.kage/1.0.3-te%20st/fi-le_na.me",
        "/api/packages/user2",
        "/api/nothing/here",
        "/nothing",
    ] {
        let r = s.get(path, &user2());
        assert_eq!(r.status, 404, "GET {path}: {}", r.describe());
    }
    let r = s.put("/api/packages/user2/generic/p/1/f/extra", CONTENT, &user2());
    assert_eq!(r.status, 404, "{}", r.describe());
    assert_eq!(s.stored_versions(OWNER).len(), 1);
}

fn error_bodies_are_plain_text(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    status(&s.put(&uf(FILE), CONTENT, &user2()), 201);
    let responses = [
        s.put(&uf(FILE), CONTENT, &user2()),
        s.put(&format!("{}/a%7Cb", u()), CONTENT, &user2()),
        s.get(&uf("missing"), &ANON),
        s.get("/api/packages/user2/generic/missing/1/f", &ANON),
        s.put(&uf("x"), CONTENT, &ANON),
    ];
    for r in &responses {
        let ct = r.header("content-type").unwrap_or_default();
        assert!(ct.starts_with("text/plain"), "{}", r.describe());
        assert!(!r.body.is_empty() && r.body.len() < 200, "{}", r.describe());
    }
}

fn size_limit_per_file(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.limits
            .set_size(packages_core::PackageType::Generic, Limit::AtMost(3))
    });
    with_user2(&s);
    s.create_user("root", PASSWORD, true);
    status(&s.put(&uf("three"), &[1, 2, 3], &user2()), 201);
    status_text(
        &s.put(&uf("four"), &[1, 2, 3, 4], &user2()),
        403,
        "maximum allowed package type size exceeded",
    );
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), 1);
    // Site admins are exempt, in their own namespace and in others'.
    let admin = Auth::basic("root", PASSWORD);
    status(
        &s.put(&file_path("root", "p", "1", "four"), &[1, 2, 3, 4], &admin),
        201,
    );
    status(&s.put(&uf("four"), &[1, 2, 3, 4], &admin), 201);
}

fn zero_size_limit_allows_empty_files(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.limits
            .set_size(packages_core::PackageType::Generic, Limit::AtMost(0));
        c.limits.total_owner_size = Limit::AtMost(0);
    });
    with_user2(&s);
    status(&s.put(&uf("empty"), b"", &user2()), 201);
    status(&s.put(&uf("one"), &[1], &user2()), 403);
    let r = s.get(&uf("empty"), &ANON);
    status(&r, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("0"));
}

fn owner_size_limit(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.limits.total_owner_size = Limit::AtMost(5));
    with_user2(&s);
    status(&s.put(&uf("a"), &[1, 2, 3], &user2()), 201);
    status_text(
        &s.put(&file_path(OWNER, "other", "1", "b"), &[4, 5, 6], &user2()),
        403,
        "maximum allowed package storage quota exceeded",
    );
    // Exactly at the limit is fine.
    status(&s.put(&uf("c"), &[7, 8], &user2()), 201);
    assert_eq!(s.stored_versions(OWNER).len(), 1);
}

fn owner_version_count_limit(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.limits.total_owner_count = Limit::AtMost(1));
    with_user2(&s);
    status(&s.put(&uf("a"), CONTENT, &user2()), 201);
    // More files in an existing version do not count.
    status(&s.put(&uf("b"), CONTENT, &user2()), 201);
    status_text(
        &s.put(&file_path(OWNER, NAME, "2.0", "a"), CONTENT, &user2()),
        403,
        "maximum allowed package count exceeded",
    );
    assert_eq!(s.stored_versions(OWNER).len(), 1);
}

fn basic_line() -> String {
    format!(
        "Authorization: {}",
        user2().header_value().unwrap_or_default()
    )
}

forge_e2e::backends!(
    wrong_credentials_are_rejected,
    unknown_owner_is_404,
    anonymous_cannot_write,
    error_precedence,
    invalid_package_names,
    valid_package_names,
    invalid_file_names,
    valid_file_names,
    versions,
    field_lengths,
    method_not_allowed,
    unmatched_paths,
    error_bodies_are_plain_text,
    size_limit_per_file,
    zero_size_limit_allows_empty_files,
    owner_size_limit,
    owner_version_count_limit,
);

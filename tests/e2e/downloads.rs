//! What a download looks like: headers, ranges, conditional requests, HEAD, and
//! case-insensitive lookups.

use forge_e2e::{file_path, sha256_hex, Auth, Backend, TestServer, ANON, PASSWORD};

use crate::common::*;

fn setup(backend: Backend) -> TestServer {
    let s = TestServer::start(backend);
    with_user2(&s);
    upload_reference_file(&s);
    s
}

fn download_headers(backend: Backend) {
    let s = setup(backend);
    let r = s.get(&uf(FILE), &ANON);
    status(&r, 200);
    assert_eq!(r.body, CONTENT);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"fi-le_na.me\"; filename*=UTF-8''fi-le_na.me")
    );
    assert_eq!(r.header("content-length"), Some("3"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let etag = format!("\"{CONTENT_SHA256}\"");
    assert_eq!(r.header("etag"), Some(etag.as_str()), "strong ETag");
    assert_eq!(r.header("x-checksum-sha256"), Some(CONTENT_SHA256));
    let last_modified = r.header("last-modified").expect("Last-Modified");
    assert!(
        is_http_date(last_modified),
        "Last-Modified is not an IMF-fixdate: {last_modified:?}"
    );
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn is_http_date(v: &str) -> bool {
    let b = v.as_bytes();
    v.len() == 29
        && v.ends_with(" GMT")
        && [
            "Mon, ", "Tue, ", "Wed, ", "Thu, ", "Fri, ", "Sat, ", "Sun, ",
        ]
        .iter()
        .any(|d| v.starts_with(d))
        && b[7] == b' '
        && b[11] == b' '
        && b[16] == b' '
        && b[19] == b':'
        && b[22] == b':'
}

fn disposition_uses_stored_name_and_encodes_it(backend: Backend) {
    let s = setup(backend);
    status(&s.put(&uf("My-File.BIN"), b"x", &user2()), 201);
    let r = s.get(&uf("my-file.bin"), &ANON);
    status(&r, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"My-File.BIN\"; filename*=UTF-8''My-File.BIN")
    );

    let name = "my file (1) [x].bin";
    status(&s.put(&uf(name), b"y", &user2()), 201);
    let r = s.get(&uf(name), &ANON);
    status(&r, 200);
    assert_eq!(
        r.header("content-disposition"),
        Some(
            "attachment; filename=\"my file (1) [x].bin\"; \
             filename*=UTF-8''my%20file%20%281%29%20%5Bx%5D.bin"
        )
    );
}

fn range_requests(backend: Backend) {
    let s = setup(backend);
    let get_range = |range: &str| s.get_with(&uf(FILE), &ANON, &[("Range", range)]);

    let r = get_range("bytes=1-1");
    status(&r, 206);
    assert_eq!(r.header("content-range"), Some("bytes 1-1/3"));
    assert_eq!(r.header("content-length"), Some("1"));
    assert_eq!(r.body, [2]);

    let r = get_range("bytes=-2");
    status(&r, 206);
    assert_eq!(r.header("content-range"), Some("bytes 1-2/3"));
    assert_eq!(r.body, [2, 3]);

    let r = get_range("bytes=1-");
    status(&r, 206);
    assert_eq!(r.header("content-range"), Some("bytes 1-2/3"));
    assert_eq!(r.body, [2, 3]);

    let r = get_range("bytes=0-100");
    status(&r, 206);
    assert_eq!(r.header("content-range"), Some("bytes 0-2/3"));
    assert_eq!(r.body, CONTENT);

    let r = get_range("bytes=5-");
    status(&r, 416);
    assert_eq!(r.header("content-range"), Some("bytes */3"));
}

fn conditional_requests(backend: Backend) {
    let s = setup(backend);
    let first = s.get(&uf(FILE), &ANON);
    status(&first, 200);
    let etag = format!("\"{CONTENT_SHA256}\"");
    let last_modified = first
        .header("last-modified")
        .expect("Last-Modified")
        .to_owned();

    let r = s.get_with(&uf(FILE), &ANON, &[("If-None-Match", &etag)]);
    status(&r, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));

    let r = s.get_with(&uf(FILE), &ANON, &[("If-None-Match", "\"something-else\"")]);
    status(&r, 200);
    assert_eq!(r.body, CONTENT);

    let r = s.get_with(&uf(FILE), &ANON, &[("If-Modified-Since", &last_modified)]);
    status(&r, 304);
    assert!(r.body.is_empty());

    let r = s.get_with(
        &uf(FILE),
        &ANON,
        &[("If-Modified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")],
    );
    status(&r, 200);
    assert_eq!(r.body, CONTENT);

    let r = s.get_with(
        &uf(FILE),
        &ANON,
        &[("If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT")],
    );
    status(&r, 412);
}

/// HEAD answers with GET's headers and no body, and is not counted as a download.
fn head_is_served(backend: Backend) {
    let s = setup(backend);
    let get = s.get(&uf(FILE), &ANON);
    status(&get, 200);
    assert_eq!(s.download_count(OWNER, NAME, VERSION), 1);

    let head = s.head(&uf(FILE), &ANON);
    status(&head, 200);
    assert!(head.body.is_empty());
    for name in [
        "content-type",
        "content-length",
        "content-disposition",
        "etag",
        "x-checksum-sha256",
        "last-modified",
        "accept-ranges",
        "x-content-type-options",
    ] {
        assert!(get.header(name).is_some(), "GET lacks {name}");
        assert_eq!(head.header(name), get.header(name), "header {name}");
    }
    assert_eq!(
        s.download_count(OWNER, NAME, VERSION),
        1,
        "HEAD was counted"
    );

    // On the wire: nothing after the head, even though Content-Length says 3.
    let raw = s.raw_simple("HEAD", &uf(FILE), &[]);
    raw_status(&raw, 200);
    assert_eq!(raw.header("content-length"), Some("3"));
    assert!(raw.body.is_empty(), "HEAD sent a body: {:?}", raw.body);
    assert_eq!(
        s.download_count(OWNER, NAME, VERSION),
        1,
        "HEAD was counted"
    );

    status(&s.head(&uf("missing"), &ANON), 404);
    status(&s.head("/api/packages/user2/generic/none/1/f", &ANON), 404);
}

fn lookups_ignore_case(backend: Backend) {
    let s = setup(backend);
    let upper = file_path(
        "USER2",
        &NAME.to_uppercase(),
        &VERSION.to_uppercase(),
        "FI-LE_NA.ME",
    );
    let r = s.get(&upper, &ANON);
    status(&r, 200);
    assert_eq!(r.body, CONTENT);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"fi-le_na.me\"; filename*=UTF-8''fi-le_na.me")
    );
    let mixed = file_path("User2", "Te-St_Pac.Kage", "1.0.3-Te St", "Fi-Le_Na.Me");
    status(&s.head(&mixed, &ANON), 200);
    assert_eq!(s.download_count(OWNER, NAME, VERSION), 1);
}

fn public_packages_are_readable_by_anyone(backend: Backend) {
    let s = setup(backend);
    s.create_user("user3", PASSWORD, false);
    for auth in [ANON, Auth::basic("user3", PASSWORD), user2()] {
        let r = s.get(&uf(FILE), &auth);
        assert_eq!(r.status, 200, "{auth:?}: {}", r.describe());
        assert_eq!(r.body, CONTENT);
    }
    assert_eq!(s.download_count(OWNER, NAME, VERSION), 3);
}

fn empty_and_larger_files(backend: Backend) {
    let s = setup(backend);
    status(&s.put(&uf("empty"), b"", &user2()), 201);
    let r = s.get(&uf("empty"), &ANON);
    status(&r, 200);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-length"), Some("0"));
    let empty_sha = sha256_hex(b"");
    assert_eq!(r.header("x-checksum-sha256"), Some(empty_sha.as_str()));

    // Larger than any single socket read, so streaming both ways is exercised.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let path = file_path(OWNER, NAME, VERSION, "big.bin");
    status(&s.put(&path, &big, &user2()), 201);
    let r = s.get(&path, &ANON);
    status(&r, 200);
    assert_eq!(r.body.len(), big.len());
    assert!(r.body == big, "downloaded content differs");
    let sha = sha256_hex(&big);
    assert_eq!(r.header("x-checksum-sha256"), Some(sha.as_str()));
    let files = s.stored_package_files(OWNER, NAME, VERSION);
    let stored = files.iter().find(|f| f.name == "big.bin").expect("big.bin");
    assert_eq!(stored.size, big.len() as i64);
    assert_eq!(stored.sha256, sha);
}

/// With batching (the production default) counts reach the database within the flush
/// interval, HEAD still counts nothing, and a graceful stop writes what is pending.
fn batched_download_counts(backend: Backend) {
    let mut s = TestServer::start_with(backend, |c| {
        c.database.download_count_flush = std::time::Duration::from_millis(50);
    });
    with_user2(&s);
    upload_reference_file(&s);
    for _ in 0..3 {
        status(&s.get(&uf(FILE), &ANON), 200);
    }
    status(&s.head(&uf(FILE), &ANON), 200);
    let counted = forge_e2e::wait_until(std::time::Duration::from_secs(5), || {
        s.download_count(OWNER, NAME, VERSION) == 3
    });
    assert!(
        counted,
        "count is {}",
        s.download_count(OWNER, NAME, VERSION)
    );

    // Counts gathered just before a stop are written by the stop.
    let mut slow = TestServer::start_with(backend, |c| {
        c.database.download_count_flush = std::time::Duration::from_secs(3600);
    });
    with_user2(&slow);
    upload_reference_file(&slow);
    status(&slow.get(&uf(FILE), &ANON), 200);
    assert_eq!(slow.download_count(OWNER, NAME, VERSION), 0);
    slow.restart();
    assert_eq!(slow.download_count(OWNER, NAME, VERSION), 1);
    s.stop();
}

forge_e2e::backends!(
    batched_download_counts,
    download_headers,
    disposition_uses_stored_name_and_encodes_it,
    range_requests,
    conditional_requests,
    head_is_served,
    lookups_ignore_case,
    public_packages_are_readable_by_anyone,
    empty_and_larger_files,
);
forge_e2e::s3_backend!(
    download_headers,
    range_requests,
    conditional_requests,
    head_is_served,
    empty_and_larger_files,
);

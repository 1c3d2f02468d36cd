//! The package limits (reference §11, §16.3 TestPackageQuota): each limit at 0 refuses a
//! user and lets an admin through; a refusal that `Content-Length` already decides comes
//! before the body is read; a chunked body that outgrows a limit leaves nothing behind.
//! Non-zero limits and the exact boundaries are covered with the status codes.

use std::io::Write;
use std::time::{Duration, Instant};

use forge_e2e::forge_server::config::Config;
use forge_e2e::{
    file_path, read_final_response, wait_until, Auth, Backend, RawResponse, TestServer, ANON,
    PASSWORD,
};
use packages_core::Limit;

use crate::common::*;

const COUNT_EXCEEDED: &str = "maximum allowed package count exceeded";
const OWNER_SIZE_EXCEEDED: &str = "maximum allowed package storage quota exceeded";
const TYPE_SIZE_EXCEEDED: &str = "maximum allowed package type size exceeded";

/// A change to the server's settings.
type Configure = fn(&mut Config);

/// How long a refusal decided by the headers may take.
const PROMPT: Duration = Duration::from_secs(2);

fn user10() -> Auth {
    Auth::basic("user10", PASSWORD)
}

fn admin() -> Auth {
    Auth::basic("root", PASSWORD)
}

/// A server with `configure` applied, the owner user10 and the site admin root.
fn start(backend: Backend, configure: Configure) -> TestServer {
    let s = TestServer::start_with(backend, configure);
    s.create_user("user10", PASSWORD, false);
    s.create_user("root", PASSWORD, true);
    s
}

fn quota_path(version: &str) -> String {
    file_path("user10", "test-package", version, "file.bin")
}

/// Scenarios 148–153: each limit set to 0 refuses user10's one-byte upload with its message,
/// while the admin's upload into user10's namespace passes.
fn zero_limits_refuse_users_but_not_admins(backend: Backend) {
    let cases: [(&str, Configure, &str); 3] = [
        (
            "1.0",
            |c| c.limits.total_owner_count = Limit::AtMost(0),
            COUNT_EXCEEDED,
        ),
        (
            "1.1",
            |c| c.limits.total_owner_size = Limit::AtMost(0),
            OWNER_SIZE_EXCEEDED,
        ),
        (
            "1.2",
            |c| {
                c.limits
                    .set_size(packages_core::PackageType::Generic, Limit::AtMost(0))
            },
            TYPE_SIZE_EXCEEDED,
        ),
    ];
    for (version, configure, message) in cases {
        let s = start(backend, configure);
        let r = s.put(&quota_path(version), b"x", &user10());
        assert_eq!(r.status, 403, "user10 v{version}: {}", r.describe());
        assert_eq!(r.text().trim(), message, "user10 v{version}");
        assert!(s.stored_versions("user10").is_empty(), "v{version}");

        let r = s.put(&quota_path(version), b"x", &admin());
        assert_eq!(r.status, 201, "admin v{version}: {}", r.describe());
        let stored = s.stored_versions("user10");
        assert_eq!(stored.len(), 1, "v{version}");
        assert_eq!(stored[0].version, version);
        assert_eq!(s.get(&quota_path(version), &ANON).body, b"x");
    }
}

/// An upload announcing 10 MB with `Expect: 100-continue` is refused from its headers: a
/// prompt 403, no `100 Continue` invitation first, nothing stored.
fn announced_size_is_refused_before_the_body(backend: Backend) {
    let cases: [(Configure, &str); 2] = [
        (
            |c| {
                c.limits
                    .set_size(packages_core::PackageType::Generic, Limit::AtMost(1000))
            },
            TYPE_SIZE_EXCEEDED,
        ),
        (
            |c| c.limits.total_owner_size = Limit::AtMost(1000),
            OWNER_SIZE_EXCEEDED,
        ),
    ];
    for (configure, message) in cases {
        let s = start(backend, configure);
        for expect in [true, false] {
            announce_without_body(&s, &quota_path("1.0"), &user10(), expect, message);
        }
        assert!(s.stored_versions("user10").is_empty());
        assert_eq!(s.blob_count(), 0);
        assert!(s.stored_items().is_empty(), "{:?}", s.stored_items());
    }
}

/// Sends the head of a 10 MB upload, optionally with `Expect: 100-continue`, and no body;
/// the answer must be a 403 with `message`, within [`PROMPT`] and without an interim
/// `100 Continue`.
fn announce_without_body(s: &TestServer, path: &str, auth: &Auth, expect: bool, message: &str) {
    let mut stream = s.connect();
    let mut head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: 10000000\r\n",
        s.addr,
        auth.header_value().unwrap_or_default()
    );
    if expect {
        head.push_str("Expect: 100-continue\r\n");
    }
    head.push_str("\r\n");
    let started = Instant::now();
    stream.write_all(head.as_bytes()).expect("send head");
    // Allow well past the deadline so a slow answer is reported with its delay, not as a
    // missing response.
    let (interim, r) = read_final_response(&mut stream, PROMPT * 5).unwrap_or_else(|e| {
        panic!(
            "no answer to an upload its Content-Length breaks ({message}, Expect: {expect}): {e}"
        )
    });
    let elapsed = started.elapsed();
    let got = format!(
        "interim {interim:?}, then {} {:?} after {elapsed:?}",
        r.status,
        r.text()
    );
    assert!(
        interim.is_empty() && r.status == 403 && r.text().trim() == message && elapsed <= PROMPT,
        "expected a 403 {message:?} within {PROMPT:?} and no 100 Continue (Expect: {expect}); got {got}"
    );
}

/// Sends `chunks` with chunked transfer coding (no `Content-Length`) and returns the
/// response. Writes after the server has answered may fail; that is not an error here.
fn chunked_put(s: &TestServer, path: &str, auth: &Auth, chunks: &[&[u8]]) -> RawResponse {
    let mut stream = s.connect();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        s.addr,
        auth.header_value().unwrap_or_default()
    );
    let mut wire = head.into_bytes();
    for chunk in chunks.iter().filter(|c| !c.is_empty()) {
        wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    // Small pieces, so the server sees the body grow rather than arrive at once.
    for piece in wire.chunks(4096) {
        if stream.write_all(piece).is_err() {
            break;
        }
    }
    let (_, r) = read_final_response(&mut stream, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("chunked PUT {path}: {e}"));
    r
}

/// Waits until the blob store holds no file at all (the temporary directory included).
#[track_caller]
fn assert_store_empty(s: &TestServer) {
    let empty = wait_until(Duration::from_secs(10), || s.stored_items().is_empty());
    assert!(empty, "left in the blob store: {:?}", s.stored_items());
}

/// A chunked body that grows past LIMIT_SIZE_GENERIC is refused; neither a temporary file,
/// nor content, nor a row remains. A chunked body within the limit is stored.
fn chunked_upload_over_the_type_limit_leaves_nothing(backend: Backend) {
    let s = start(backend, |c| {
        c.limits
            .set_size(packages_core::PackageType::Generic, Limit::AtMost(1024))
    });
    let piece = [7u8; 4096];
    let chunks: Vec<&[u8]> = std::iter::repeat_n(&piece[..], 64).collect();
    let r = chunked_put(&s, &quota_path("1.0"), &user10(), &chunks);
    raw_status(&r, 403);
    assert_eq!(r.text().trim(), TYPE_SIZE_EXCEEDED);
    assert_store_empty(&s);
    assert_eq!(s.pending_uploads(), 0);
    assert!(s.stored_versions("user10").is_empty());
    assert_eq!(s.blob_count(), 0);

    // Exactly at the limit, in several chunks.
    let r = chunked_put(
        &s,
        &quota_path("1.0"),
        &user10(),
        &[&piece[..1000], &piece[..24]],
    );
    raw_status(&r, 201);
    let stored = s.stored_package_files("user10", "test-package", "1.0");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].size, 1024);
}

/// A chunked body that would take the owner past LIMIT_TOTAL_OWNER_SIZE is refused once its
/// size is known, and the content it brought is removed again.
fn chunked_upload_over_the_owner_limit_leaves_nothing(backend: Backend) {
    let s = start(backend, |c| c.limits.total_owner_size = Limit::AtMost(1024));
    let piece = [9u8; 4096];
    let r = chunked_put(&s, &quota_path("1.0"), &user10(), &[&piece, &piece]);
    raw_status(&r, 403);
    assert_eq!(r.text().trim(), OWNER_SIZE_EXCEEDED);
    assert_store_empty(&s);
    assert!(s.stored_versions("user10").is_empty());
    assert_eq!(s.blob_count(), 0);
}

/// A limit of 0 is a real limit, yet an empty file is within it (Forgejo compares the size
/// with `>`), also when the body is chunked and its size only known at the end.
fn zero_limits_let_an_empty_chunked_body_through(backend: Backend) {
    let s = start(backend, |c| {
        c.limits
            .set_size(packages_core::PackageType::Generic, Limit::AtMost(0));
        c.limits.total_owner_size = Limit::AtMost(0);
    });
    let r = chunked_put(&s, &quota_path("1.0"), &user10(), &[]);
    raw_status(&r, 201);
    let stored = s.stored_package_files("user10", "test-package", "1.0");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].size, 0);

    let path = file_path("user10", "test-package", "1.0", "one.bin");
    let r = chunked_put(&s, &path, &user10(), &[b"x"]);
    raw_status(&r, 403);
    assert!(
        [TYPE_SIZE_EXCEEDED, OWNER_SIZE_EXCEEDED].contains(&r.text().trim()),
        "{:?}",
        r.text()
    );
    assert_eq!(
        s.stored_package_files("user10", "test-package", "1.0")
            .len(),
        1
    );
}

forge_e2e::backends!(
    zero_limits_refuse_users_but_not_admins,
    announced_size_is_refused_before_the_body,
    chunked_upload_over_the_type_limit_leaves_nothing,
    chunked_upload_over_the_owner_limit_leaves_nothing,
    zero_limits_let_an_empty_chunked_body_through,
);
forge_e2e::s3_backend!(
    announced_size_is_refused_before_the_body,
    chunked_upload_over_the_type_limit_leaves_nothing,
    chunked_upload_over_the_owner_limit_leaves_nothing,
);

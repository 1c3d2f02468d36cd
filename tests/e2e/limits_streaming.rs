//! A body without `Content-Length` is refused while it streams, as soon as it crosses a limit,
//! not after the client has sent all of it.

use std::io::{Read, Write};
use std::time::Duration;

use forge_e2e::{file_path, Auth, Backend, RawResponse, TestServer, PASSWORD};
use packages_core::Limit;

use crate::common::*;

/// Sends a chunked PUT with one chunk of `first` bytes and keeps the body open; returns what
/// the server answers within a few seconds.
fn open_chunked_put(s: &TestServer, path: &str, first: usize) -> RawResponse {
    let mut stream = s.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let auth = Auth::basic("owner", PASSWORD)
        .header_value()
        .unwrap_or_default();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n{first:x}\r\n",
        s.addr
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(&vec![5u8; first]).expect("send chunk");
    stream.write_all(b"\r\n").expect("end chunk");
    // No final chunk: the body is still open when the server answers.
    let started = std::time::Instant::now();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    while !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no answer while the body was still open: {e}"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the answer took {:?}: the server waited for the body",
        started.elapsed()
    );
    // The body line may follow the headers in a second segment.
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    if let Ok(n) = stream.read(&mut buf) {
        bytes.extend_from_slice(&buf[..n]);
    }
    RawResponse::parse(&bytes)
}

fn owner_quota_is_enforced_while_streaming(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.limits.total_owner_size = Limit::AtMost(10_000);
    });
    s.create_user("owner", PASSWORD, false);
    status(
        &s.put(
            &file_path("owner", "p", "1", "a.bin"),
            &[1u8; 6000],
            &Auth::basic("owner", PASSWORD),
        ),
        201,
    );
    // 6000 used of 10000: a body that passes 4000 bytes is refused mid-stream.
    let r = open_chunked_put(&s, &file_path("owner", "p", "2", "b.bin"), 8192);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text()
            .contains("maximum allowed package storage quota exceeded"),
        "{}",
        r.text()
    );
    assert_eq!(s.stored_versions("owner").len(), 1);
}

fn type_limit_is_enforced_while_streaming(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.limits
            .set_size(packages_core::PackageType::Generic, Limit::AtMost(1000));
    });
    s.create_user("owner", PASSWORD, false);
    let r = open_chunked_put(&s, &file_path("owner", "p", "1", "b.bin"), 4096);
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text()
            .contains("maximum allowed package type size exceeded"),
        "{}",
        r.text()
    );
    assert!(s.stored_versions("owner").is_empty());
}

forge_e2e::backends!(
    owner_quota_is_enforced_while_streaming,
    type_limit_is_enforced_while_streaming
);
forge_e2e::s3_backend!(
    owner_quota_is_enforced_while_streaming,
    type_limit_is_enforced_while_streaming
);

//! Behaviour where the project deliberately differs from Forgejo beyond the status table
//! (docs/COMPATIBILITY.md): early refusals, form content types, several ranges.

use std::io::{Read, Write};
use std::time::Duration;

use forge_e2e::{Backend, TestServer, ANON};
use packages_core::Limit;

use crate::common::*;

/// Sends only the head of a large upload and returns the first response line the server
/// answers with before any body byte was sent.
fn answer_without_body(s: &TestServer, path: &str, content_length: u64) -> String {
    let mut stream = s.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: {content_length}\r\n\r\n",
        s.addr,
        user2().header_value().unwrap_or_default()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    let mut buf = [0u8; 512];
    let n = stream
        .read(&mut buf)
        .expect("the server should answer before the body arrives");
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn known_refusals_do_not_wait_for_the_body(backend: Backend) {
    // An existing file is refused before a large body (small bodies, up to 64 KiB, are read
    // first: it costs nothing and saves a database look-up).
    let open = TestServer::start(backend);
    with_user2(&open);
    upload_reference_file(&open);
    let line = answer_without_body(&open, &uf(FILE), 10_000_000);
    assert!(line.contains(" 409"), "existing file: {line:?}");

    let s = TestServer::start_with(backend, |c| {
        c.limits
            .set_size(packages_core::PackageType::Generic, Limit::AtMost(1000))
    });
    with_user2(&s);
    upload_reference_file(&s);
    let line = answer_without_body(&s, &uf("new.bin"), 1_000_000);
    assert!(
        line.contains(" 403"),
        "announced size over the limit: {line:?}"
    );
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), 1);
}

fn form_content_types_store_the_raw_body(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let body = b"name=value&other=1";
    let r = s.request(
        "PUT",
        &uf("form.bin"),
        &user2(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(body),
    );
    status(&r, 201);
    assert_eq!(s.get(&uf("form.bin"), &ANON).body, body);

    let multipart = b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nA\r\n--xyz--\r\n";
    let r = s.request(
        "PUT",
        &uf("multipart.bin"),
        &user2(),
        &[("Content-Type", "multipart/form-data; boundary=xyz")],
        Some(multipart),
    );
    status(&r, 201);
    assert_eq!(s.get(&uf("multipart.bin"), &ANON).body, multipart);
}

fn several_ranges_get_the_whole_file(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    upload_reference_file(&s);
    let r = s.get_with(&uf(FILE), &ANON, &[("Range", "bytes=0-0,2-2")]);
    status(&r, 200);
    assert_eq!(r.body, CONTENT);
    assert_eq!(r.header("content-range"), None);
}

forge_e2e::backends!(
    known_refusals_do_not_wait_for_the_body,
    form_content_types_store_the_raw_body,
    several_ranges_get_the_whole_file,
);

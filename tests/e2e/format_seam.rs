//! The format seam, exercised by a format that exists only in the test build (`single`: one
//! file per version, names compared with `_` and `-` alike). Everything it does — upload with
//! limits, download with the shared headers, metadata and properties, its own name rule, the
//! `/api/v1` listing and deletes — comes through the seam without generic or PyPI code.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use forge_e2e::{Auth, Backend, TestServer, ANON};
use packages_core::{Limit, PackageType};
use packages_db::PropertyOf;

use crate::common::*;

const SINGLE: PackageType = PackageType::new("single");

fn start(backend: Backend, size: Limit) -> TestServer {
    let s = TestServer::start_with(backend, |c| c.limits.set_size(SINGLE, size));
    with_user2(&s);
    s
}

fn single_through_the_seam(backend: Backend) {
    let s = start(backend, Limit::None);
    let url = "/api/packages/user2/single/My_Tool/2.0";
    let r = s.request(
        "PUT",
        url,
        &user2(),
        &[("X-Single-Note", "hello")],
        Some(b"abc"),
    );
    status(&r, 201);
    // The format's own name rule: `_` and `-` are the same name; the shared download headers.
    let r = s.get("/api/packages/user2/single/my-tool/2.0", &ANON);
    status(&r, 200);
    assert_eq!(r.body, b"abc");
    assert_eq!(
        r.header("x-checksum-sha256"),
        Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    let r = s.request("GET", url, &ANON, &[("Range", "bytes=1-")], None);
    status(&r, 206);
    assert_eq!(r.body, b"bc");
    // One file per version: a second upload conflicts.
    status_text(
        &s.put("/api/packages/user2/single/my-tool/2.0", b"x", &user2()),
        409,
        "package file already exists",
    );
    // Metadata and a version property, as the format stored them.
    let owner = s.owner_id(OWNER).expect("owner");
    let row = s
        .db()
        .version_detail(owner, SINGLE, "my-tool", "2.0")
        .expect("look-up")
        .expect("version");
    assert_eq!(row.package.name, "My_Tool");
    assert_eq!(row.package.lower_name, "my-tool");
    assert_eq!(
        row.version.metadata_json.as_deref(),
        Some(r#"{"announced":3}"#)
    );
    let props = s
        .db()
        .properties(PropertyOf::Version, &[row.version.id])
        .expect("properties");
    assert_eq!(
        props,
        vec![(row.version.id, "single.note".to_owned(), "hello".to_owned())]
    );
    // The shared /api/v1 listing knows the type and the name rule.
    let r = s.get("/api/v1/packages/user2?type=single", &user2());
    status(&r, 200);
    let list = r.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["type"], "single");
    assert_eq!(list[0]["name"], "My_Tool");
    status(
        &s.get("/api/v1/packages/user2/single/my-tool/2.0", &user2()),
        200,
    );
    // Generic knows nothing of it.
    status(
        &s.get("/api/packages/user2/generic/My_Tool/2.0/content", &ANON),
        404,
    );
    // Shared deletes through the format's routes.
    status(
        &s.delete("/api/packages/user2/single/MY-TOOL/2.0", &user2()),
        204,
    );
    status(&s.get(url, &ANON), 404);
    assert!(s
        .db()
        .properties(PropertyOf::Version, &[row.version.id])
        .unwrap()
        .is_empty());
}

fn single_has_its_own_size_limit(backend: Backend) {
    let s = start(backend, Limit::AtMost(2));
    status_text(
        &s.put("/api/packages/user2/single/tool/1", b"abc", &user2()),
        403,
        "maximum allowed package type size exceeded",
    );
    // The format checks no limit itself (tests/src/single.rs): the kit refused the file,
    // and nothing of it was kept.
    let owner = s.owner_id(OWNER).expect("owner");
    assert!(s
        .db()
        .version_detail(owner, SINGLE, "tool", "1")
        .expect("look-up")
        .is_none());
    status(
        &s.put("/api/packages/user2/single/tool/1", b"ab", &user2()),
        201,
    );
    // The generic limit is another setting.
    status(&s.put(&uf(FILE), b"abc", &user2()), 201);
    assert_eq!(s.config().limits.size_of(SINGLE), Limit::AtMost(2));
    assert_eq!(s.config().limits.size_of(PackageType::Generic), Limit::None);
}

fn a_format_may_take_bare_tokens(backend: Backend) {
    let s = start(backend, Limit::None);
    let token = s.token(OWNER, "bare", "write:package");
    let bare = Auth::Raw(token.clone());
    let url = "/api/packages/user2/single/tool/1";
    // The format's own upload and the kit's shared delete both read it.
    status(&s.put(url, b"abc", &bare), 201);
    status(&s.delete(url, &bare), 204);
    // Formats that did not ask for it refuse it, as Forgejo does.
    status(&s.put(&uf(FILE), b"abc", &bare), 401);
    status(&s.put(&uf(FILE), b"abc", &Auth::token(&token)), 201);
}

fn a_format_may_change_and_remove_properties(backend: Backend) {
    let s = start(backend, Limit::None);
    let url = "/api/packages/user2/single/tool/1";
    status(
        &s.request(
            "PUT",
            url,
            &user2(),
            &[("X-Single-Note", "first")],
            Some(b"x"),
        ),
        201,
    );
    let owner = s.owner_id(OWNER).expect("owner");
    let version = s
        .db()
        .version_detail(owner, SINGLE, "tool", "1")
        .expect("look-up")
        .expect("version")
        .version
        .id;
    let notes = || {
        s.db()
            .properties(PropertyOf::Version, &[version])
            .expect("properties")
    };
    status(
        &s.request("PATCH", url, &ANON, &[("X-Single-Note", "x")], None),
        401,
    );
    status(
        &s.request("PATCH", url, &user2(), &[("X-Single-Note", "second")], None),
        204,
    );
    assert_eq!(
        notes(),
        vec![(version, "single.note".to_owned(), "second".to_owned())]
    );
    status(&s.request("PATCH", url, &user2(), &[], None), 204);
    assert!(notes().is_empty());
    status(
        &s.request(
            "PATCH",
            "/api/packages/user2/single/tool/2",
            &user2(),
            &[("X-Single-Note", "x")],
            None,
        ),
        404,
    );
}

/// Sends a request's head and the start of its body, then stalls; the status the server
/// answers with, within `within`.
fn status_of_stalled(s: &TestServer, head: &str, within: Duration) -> Option<u16> {
    let mut stream = TcpStream::connect(s.addr).expect("connect");
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(b"--xyz\r\n").expect("send some body");
    stream.set_read_timeout(Some(within)).expect("read timeout");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1)?.parse().ok()
}

fn every_format_cuts_a_stalled_body(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.server.idle_timeout = Duration::from_secs(1);
    });
    with_user2(&s);
    let auth = user2().header_value().expect("credentials");
    // PyPI's form and the test format's upload: neither asks for the timeout itself.
    for (method, path, content_type) in [
        (
            "POST",
            "/api/packages/user2/pypi/",
            "multipart/form-data; boundary=xyz",
        ),
        (
            "PUT",
            "/api/packages/user2/single/tool/1",
            "application/octet-stream",
        ),
    ] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\
             Content-Type: {content_type}\r\nContent-Length: 100000\r\n\r\n",
            s.addr
        );
        assert_eq!(
            status_of_stalled(&s, &head, Duration::from_secs(10)),
            Some(408),
            "{method} {path}"
        );
    }
}

forge_e2e::backends!(
    single_through_the_seam,
    single_has_its_own_size_limit,
    a_format_may_take_bare_tokens,
    a_format_may_change_and_remove_properties,
    every_format_cuts_a_stalled_body
);

//! Resumable uploads with the tus 1.0.0 protocol: every status code of the protocol over
//! plain HTTP, content that survives a cut connection and a server restart, completion that
//! publishes the file like a PUT, and expiry that removes what an abandoned upload left.

use std::io::Write;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use forge_e2e::{sha256_hex, Auth, Backend, Resp, TestServer, ANON, PASSWORD};
use md5::Digest as _;
use sha2::Digest as _;

use crate::common::*;

const TUS: (&str, &str) = ("Tus-Resumable", "1.0.0");
const OCTETS: (&str, &str) = ("Content-Type", "application/offset+octet-stream");

fn file(name: &str) -> String {
    forge_e2e::file_path(OWNER, "big", "1.0", name)
}

/// Deterministic bytes that differ at every offset that matters.
pub fn content(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

/// Creates an upload of `len` bytes; answers the upload's path.
fn create(s: &TestServer, name: &str, len: usize) -> String {
    let r = s.request(
        "POST",
        &file(name),
        &user2(),
        &[TUS, ("Upload-Length", &len.to_string())],
        None,
    );
    status(&r, 201);
    location_path(&r)
}

fn location_path(r: &Resp) -> String {
    let location = r.header("location").expect("Location");
    let path = location
        .strip_prefix("http://")
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_owned()))
        .unwrap_or_else(|| panic!("Location is not an absolute http URL: {location}"));
    let id = path
        .strip_prefix("/api/packages/user2/generic/-/uploads/")
        .unwrap_or_else(|| panic!("unexpected upload URL {location}"));
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "upload id {id:?}"
    );
    path
}

fn patch(s: &TestServer, upload: &str, offset: usize, body: &[u8], extra: &[(&str, &str)]) -> Resp {
    let offset = offset.to_string();
    let mut headers = vec![TUS, OCTETS, ("Upload-Offset", offset.as_str())];
    headers.extend_from_slice(extra);
    s.request("PATCH", upload, &user2(), &headers, Some(body))
}

fn offset_of(s: &TestServer, upload: &str) -> usize {
    let r = s.request("HEAD", upload, &user2(), &[TUS], None);
    status(&r, 200);
    r.header("upload-offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("HEAD without Upload-Offset: {}", r.describe()))
}

/// Sends a PATCH announcing `announced` bytes, sends only `sent` and closes the connection.
fn cut_patch(s: &TestServer, upload: &str, offset: usize, sent: &[u8], announced: usize) {
    let auth = user2().header_value().expect("credentials");
    let head = format!(
        "PATCH {upload} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n\
         Content-Length: {announced}\r\n\r\n",
        s.addr
    );
    let mut stream = s.connect();
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(sent).expect("send part of the body");
    stream.flush().expect("flush");
    // Give the server the bytes before the connection goes.
    std::thread::sleep(Duration::from_millis(300));
    drop(stream);
}

/// Nothing of resumable uploads is left in the store's pending area.
fn pending_area_empty(s: &TestServer) -> bool {
    match s.env.backend {
        Backend::S3 => {
            s.s3_store()
                .resumable_leftovers()
                .unwrap_or_else(|e| panic!("listing the bucket: {e}"))
                == 0
        }
        _ => forge_e2e::files_under(&s.packages_dir().join("resumable")).is_empty(),
    }
}

fn files_json(s: &TestServer) -> serde_json::Value {
    let r = s.get("/api/v1/packages/user2/generic/big/1.0/files", &user2());
    status(&r, 200);
    r.json()
}

fn assert_published(s: &TestServer, name: &str, body: &[u8]) {
    let r = s.get(&file(name), &user2());
    status(&r, 200);
    assert!(r.body == body, "downloaded content differs from the upload");
    let files = files_json(s);
    let f = files
        .as_array()
        .and_then(|a| a.iter().find(|f| f["name"] == name))
        .unwrap_or_else(|| panic!("{name} not listed: {files}"));
    assert_eq!(f["Size"], body.len() as u64);
    assert_eq!(f["sha256"], sha256_hex(body));
    assert_eq!(f["md5"], hex::encode(md5::Md5::digest(body)));
    assert_eq!(f["sha512"], hex::encode(sha2::Sha512::digest(body)));
}

fn options_and_versions(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.limits.set_size(
            packages_core::PackageType::Generic,
            packages_core::Limit::AtMost(50 << 20),
        )
    });
    with_user2(&s);
    for path in [
        file("a.bin"),
        "/api/packages/user2/generic/-/uploads/0123".to_owned(),
    ] {
        let r = s.request("OPTIONS", &path, &ANON, &[], None);
        status(&r, 204);
        assert_eq!(r.header("tus-version"), Some("1.0.0"));
        assert_eq!(
            r.header("tus-extension"),
            Some("creation,creation-with-upload,termination,checksum,expiration")
        );
        assert_eq!(r.header("tus-max-size"), Some("52428800"));
        assert_eq!(r.header("tus-checksum-algorithm"), Some("md5,sha1,sha256"));
        assert_eq!(
            r.header("tus-resumable"),
            None,
            "OPTIONS carries no Tus-Resumable"
        );
    }
    // Another protocol version: 412 with the version spoken. A POST that is no tus request
    // stays refused as before.
    let r = s.request(
        "POST",
        &file("a.bin"),
        &user2(),
        &[("Tus-Resumable", "0.2.2"), ("Upload-Length", "3")],
        None,
    );
    status(&r, 412);
    assert_eq!(r.header("tus-version"), Some("1.0.0"));
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    let r = s.request(
        "POST",
        &file("a.bin"),
        &user2(),
        &[("Upload-Length", "3")],
        None,
    );
    status(&r, 405);
    // Over the size limit: 413 at creation; no Upload-Length: 400.
    let r = s.request(
        "POST",
        &file("a.bin"),
        &user2(),
        &[TUS, ("Upload-Length", &(51u64 << 20).to_string())],
        None,
    );
    status_text(&r, 413, "maximum allowed package type size exceeded");
    status(
        &s.request("POST", &file("a.bin"), &user2(), &[TUS], None),
        400,
    );
    status(
        &s.request(
            "POST",
            &file("a.bin"),
            &user2(),
            &[TUS, ("Upload-Length", "-1")],
            None,
        ),
        400,
    );
    // Invalid names are refused at creation, like a PUT.
    status(
        &s.request(
            "POST",
            &forge_e2e::file_path(OWNER, "big", "1.0", "inva|id.name"),
            &user2(),
            &[TUS, ("Upload-Length", "3")],
            None,
        ),
        400,
    );
    assert!(pending_area_empty(&s));
}

fn protocol_status_codes(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    s.create_user("user3", PASSWORD, false);
    let other = Auth::basic("user3", PASSWORD);
    let body = content(300_000);

    // Creation needs credentials and write access.
    let create_headers = [TUS, ("Upload-Length", "300000")];
    unauthorized(&s.request("POST", &file("a.bin"), &ANON, &create_headers, None));
    // As for a PUT: a signed-in user without write access is told so.
    status(
        &s.request("POST", &file("a.bin"), &other, &create_headers, None),
        401,
    );

    let r = s.request(
        "POST",
        &file("a.bin"),
        &user2(),
        &[
            TUS,
            ("Upload-Length", "300000"),
            ("Upload-Metadata", "filename YS5iaW4=,private"),
        ],
        None,
    );
    status(&r, 201);
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    assert_eq!(r.header("upload-offset"), Some("0"));
    assert!(r.header("upload-expires").is_some(), "{}", r.describe());
    let upload = location_path(&r);
    assert!(
        r.header("location").unwrap().starts_with(&s.base),
        "Location is absolute on the server's address"
    );

    // HEAD: the offset, the length, never cached; strangers learn nothing.
    let r = s.request("HEAD", &upload, &user2(), &[TUS], None);
    status(&r, 200);
    assert_eq!(r.header("upload-offset"), Some("0"));
    assert_eq!(r.header("upload-length"), Some("300000"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(
        r.header("upload-metadata"),
        Some("filename YS5iaW4=,private")
    );
    assert!(r.header("upload-expires").is_some());
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    unauthorized(&s.request("HEAD", &upload, &ANON, &[TUS], None));
    status(&s.request("HEAD", &upload, &other, &[TUS], None), 404);
    status(
        &s.request(
            "PATCH",
            &upload,
            &other,
            &[TUS, OCTETS, ("Upload-Offset", "0")],
            Some(b"x"),
        ),
        404,
    );
    status(&s.request("DELETE", &upload, &other, &[TUS], None), 404);
    let unknown = "/api/packages/user2/generic/-/uploads/0123456789abcdef0123456789abcdef";
    status(&s.request("HEAD", unknown, &user2(), &[TUS], None), 404);
    status(
        &s.request(
            "HEAD",
            "/api/packages/user2/generic/-/uploads/nothex",
            &user2(),
            &[TUS],
            None,
        ),
        404,
    );
    status(&s.request("HEAD", &upload, &user2(), &[], None), 412);

    // PATCH: the media type, the offset, the checksum.
    let r = s.request(
        "PATCH",
        &upload,
        &user2(),
        &[
            TUS,
            ("Content-Type", "application/octet-stream"),
            ("Upload-Offset", "0"),
        ],
        Some(&body[..10]),
    );
    status(&r, 415);
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    status(&patch(&s, &upload, 5, &body[..10], &[]), 409);
    status(
        &s.request(
            "PATCH",
            &upload,
            &user2(),
            &[TUS, OCTETS],
            Some(&body[..10]),
        ),
        400,
    );
    let r = patch(&s, &upload, 0, &body[..100_000], &[]);
    status(&r, 204);
    assert_eq!(r.header("upload-offset"), Some("100000"));
    assert!(r.header("upload-expires").is_some(), "{}", r.describe());
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    assert_eq!(offset_of(&s, &upload), 100_000);

    let chunk = &body[100_000..150_000];
    let wrong = format!(
        "sha256 {}",
        B64.encode(sha2::Sha256::digest(b"other bytes"))
    );
    status(
        &patch(&s, &upload, 100_000, chunk, &[("Upload-Checksum", &wrong)]),
        460,
    );
    assert_eq!(
        offset_of(&s, &upload),
        100_000,
        "a mismatching chunk is discarded"
    );
    status(
        &patch(
            &s,
            &upload,
            100_000,
            chunk,
            &[("Upload-Checksum", "crc32 AAAA")],
        ),
        400,
    );
    status(
        &patch(
            &s,
            &upload,
            100_000,
            chunk,
            &[("Upload-Checksum", "sha256 !!")],
        ),
        400,
    );
    let good = format!("md5 {}", B64.encode(md5::Md5::digest(chunk)));
    let r = patch(&s, &upload, 100_000, chunk, &[("Upload-Checksum", &good)]);
    status(&r, 204);
    assert_eq!(r.header("upload-offset"), Some("150000"));

    // Bytes past Upload-Length: 413, nothing kept.
    status(&patch(&s, &upload, 150_000, &content(150_001), &[]), 413);
    assert_eq!(offset_of(&s, &upload), 150_000);

    // A PATCH cut off mid-way keeps what arrived.
    cut_patch(&s, &upload, 150_000, &body[150_000..200_000], 150_000);
    assert!(
        forge_e2e::wait_until(Duration::from_secs(10), || offset_of(&s, &upload)
            == 200_000),
        "offset after a cut PATCH: {}",
        offset_of(&s, &upload)
    );

    // The last byte publishes the file; the upload is gone.
    let r = patch(&s, &upload, 200_000, &body[200_000..], &[]);
    status(&r, 204);
    assert_eq!(r.header("upload-offset"), Some("300000"));
    assert_published(&s, "a.bin", &body);
    status(&s.request("HEAD", &upload, &user2(), &[TUS], None), 404);
    assert!(pending_area_empty(&s));

    // An existing file is refused at creation.
    let r = s.request("POST", &file("a.bin"), &user2(), &create_headers, None);
    status_text(&r, 409, "package file already exists");
}

fn termination_and_conflicts(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let body = content(70_000);

    // Termination: 204, then the upload is gone with its content.
    let upload = create(&s, "t.bin", body.len());
    status(&patch(&s, &upload, 0, &body[..30_000], &[]), 204);
    let r = s.request("DELETE", &upload, &user2(), &[TUS], None);
    status(&r, 204);
    assert_eq!(r.header("tus-resumable"), Some("1.0.0"));
    status(&s.request("HEAD", &upload, &user2(), &[TUS], None), 404);
    status(&patch(&s, &upload, 30_000, &body[30_000..], &[]), 404);
    status(&s.request("DELETE", &upload, &user2(), &[TUS], None), 404);
    assert!(pending_area_empty(&s));
    assert!(s.stored_version(OWNER, "big", "1.0").is_none());

    // A file that appears while the upload runs wins: the last PATCH answers 409.
    let upload = create(&s, "c.bin", body.len());
    status(&patch(&s, &upload, 0, &body[..30_000], &[]), 204);
    status(&s.put(&file("c.bin"), b"first", &user2()), 201);
    status_text(
        &patch(&s, &upload, 30_000, &body[30_000..], &[]),
        409,
        "package file already exists",
    );
    assert_eq!(s.get(&file("c.bin"), &user2()).body, b"first");
    status(&s.request("HEAD", &upload, &user2(), &[TUS], None), 404);
    assert!(pending_area_empty(&s));
    let files = s.stored_package_files(OWNER, "big", "1.0");
    assert_eq!(files.len(), 1, "{files:?}");

    // creation-with-upload: the POST's body is the first chunk, or all of it.
    let r = s.request(
        "POST",
        &file("w.bin"),
        &user2(),
        &[TUS, OCTETS, ("Upload-Length", &body.len().to_string())],
        Some(&body),
    );
    status(&r, 201);
    assert_eq!(r.header("upload-offset"), Some("70000"));
    assert_published(&s, "w.bin", &body);
    // A body of another type is refused; an empty file is complete at once.
    status(
        &s.request(
            "POST",
            &file("x.bin"),
            &user2(),
            &[TUS, ("Upload-Length", "3"), ("Content-Type", "text/plain")],
            Some(b"abc"),
        ),
        415,
    );
    status(
        &s.request(
            "POST",
            &file("empty.bin"),
            &user2(),
            &[TUS, ("Upload-Length", "0")],
            None,
        ),
        201,
    );
    assert_published(&s, "empty.bin", b"");
    assert!(pending_area_empty(&s));
}

/// Several parts of the object store's size, appended in chunks that straddle them, cut
/// mid-way, and resumed after a server restart.
fn large_upload_survives_cuts_and_restarts(backend: Backend) {
    let mut s = TestServer::start_with(backend, |c| {
        c.server.listen = format!("127.0.0.1:{}", forge_e2e::free_port());
    });
    with_user2(&s);
    let body = content(19 << 20);
    let upload = create(&s, "large.bin", body.len());
    let step = (3 << 20) + 12_345;
    let mut offset = 0;
    while offset < 9 << 20 {
        let end = (offset + step).min(body.len());
        status(&patch(&s, &upload, offset, &body[offset..end], &[]), 204);
        offset = end;
    }
    cut_patch(
        &s,
        &upload,
        offset,
        &body[offset..offset + (5 << 20)],
        8 << 20,
    );
    assert!(
        forge_e2e::wait_until(Duration::from_secs(20), || offset_of(&s, &upload) > offset),
        "a cut PATCH kept nothing"
    );
    let before = offset;
    s.restart();
    let offset = offset_of(&s, &upload);
    assert!(offset <= before + (5 << 20), "offset {offset}");
    status(&patch(&s, &upload, offset, &body[offset..], &[]), 204);
    assert_published(&s, "large.bin", &body);
    assert!(pending_area_empty(&s));
}

fn expiry_removes_unfinished_uploads(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.packages.resumable_expiry = Duration::from_secs(2);
    });
    with_user2(&s);
    let body = content(10 << 20);
    let upload = create(&s, "old.bin", body.len());
    status(&patch(&s, &upload, 0, &body[..(9 << 20) + 7], &[]), 204);
    assert!(
        !pending_area_empty(&s),
        "the upload's bytes are in the pending area"
    );
    std::thread::sleep(Duration::from_millis(2500));
    status(&s.request("HEAD", &upload, &user2(), &[TUS], None), 410);
    status(
        &patch(&s, &upload, (9 << 20) + 7, &body[(9 << 20) + 7..], &[]),
        410,
    );
    let (_, store) = forge_server::server::open_backends(s.config()).expect("open the store");
    let report =
        forge_server::sweep::run_once(s.db(), &*store, Duration::from_secs(3600)).expect("sweep");
    assert_eq!(report.expired_uploads_removed, 1, "{report:?}");
    status(&s.request("HEAD", &upload, &user2(), &[TUS], None), 404);
    assert!(pending_area_empty(&s));
    assert!(s.stored_version(OWNER, "big", "1.0").is_none());
}

forge_e2e::backends!(
    options_and_versions,
    protocol_status_codes,
    termination_and_conflicts,
    large_upload_survives_cuts_and_restarts,
    expiry_removes_unfinished_uploads,
);
forge_e2e::s3_backend!(
    protocol_status_codes,
    termination_and_conflicts,
    large_upload_survives_cuts_and_restarts,
    expiry_removes_unfinished_uploads,
);

/// Three instances on one database and one store (a shared data directory, or one bucket for
/// `Backend::S3`) serve one upload: any of them takes the next chunk, and two chunks sent at
/// once to two instances at the same offset have one winner.
fn one_upload_through_three_instances(backend: Backend) {
    use forge_e2e::cluster::Cluster;
    let c = Cluster::start(backend, 3, &[]);
    c.create_user(OWNER, PASSWORD, false);
    let body = content(12 << 20);
    let r = c.at(0).request(
        "POST",
        &file("shared.bin"),
        &user2(),
        &[TUS, ("Upload-Length", &body.len().to_string())],
        None,
    );
    status(&r, 201);
    let upload = location_path(&r);
    let chunk = 3 << 20;
    let send = |i: usize, offset: usize| {
        let offset_text = offset.to_string();
        c.at(i).request(
            "PATCH",
            &upload,
            &user2(),
            &[TUS, OCTETS, ("Upload-Offset", &offset_text)],
            Some(&body[offset..(offset + chunk).min(body.len())]),
        )
    };
    status(&send(1, 0), 204);
    status(&send(2, chunk), 204);
    // Two instances at once, same offset: one appends, the other is refused.
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| send(0, 2 * chunk));
        let b = scope.spawn(|| send(1, 2 * chunk));
        (a.join().expect("a"), b.join().expect("b"))
    });
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert!(
        statuses[0] == 204 && matches!(statuses[1], 409 | 423),
        "{} / {}",
        a.describe(),
        b.describe()
    );
    let head = c.at(2).request("HEAD", &upload, &user2(), &[TUS], None);
    status(&head, 200);
    assert_eq!(
        head.header("upload-offset"),
        Some(&*(3 * chunk).to_string())
    );
    status(&send(2, 3 * chunk), 204);
    for i in 0..3 {
        let r = c.at(i).get(&file("shared.bin"), &user2());
        status(&r, 200);
        assert!(r.body == body, "instance {i} serves other content");
    }
}

#[test]
fn one_upload_through_three_instances_postgres() {
    forge_e2e::run_scenario(Backend::Postgres, "resumable_cluster", |_| {
        one_upload_through_three_instances(Backend::Postgres)
    });
}

#[test]
fn one_upload_through_three_instances_postgres_s3() {
    forge_e2e::run_scenario(Backend::Postgres, "resumable_cluster_s3", |_| {
        if forge_e2e::s3::seaweed_or_skip().is_some() {
            one_upload_through_three_instances(Backend::S3);
            forge_e2e::append_marker("FORGE_TEST_S3_MARKER", "resumable_cluster");
        }
    });
}

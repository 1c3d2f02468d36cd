//! Digests in headers: uploads verified against the digests the client sent in every header
//! form, and `Repr-Digest` on downloads.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use forge_e2e::{file_path, sha256_hex, Backend, TestServer, ANON};
use sha2::Digest as _;

use crate::common::*;

fn sha512_b64(bytes: &[u8]) -> String {
    B64.encode(sha2::Sha512::digest(bytes))
}

fn sha256_b64(bytes: &[u8]) -> String {
    B64.encode(sha2::Sha256::digest(bytes))
}

/// Header forms with the right digest of `body`, and with the digest of other bytes.
fn forms(body: &[u8]) -> Vec<(&'static str, String, String)> {
    let other = b"something else";
    let hex_of = |d: &[u8]| hex::encode(d);
    vec![
        ("X-Checksum-Sha256", sha256_hex(body), sha256_hex(other)),
        (
            "X-Checksum-Sha1",
            hex_of(&sha1_digest(body)),
            hex_of(&sha1_digest(other)),
        ),
        (
            "X-Checksum-Md5",
            hex_of(&md5_digest(body)),
            hex_of(&md5_digest(other)),
        ),
        (
            "Content-Digest",
            format!("sha-256=:{}:", sha256_b64(body)),
            format!("sha-256=:{}:", sha256_b64(other)),
        ),
        (
            "Content-Digest",
            format!("sha-512=:{}:", sha512_b64(body)),
            format!("sha-512=:{}:", sha512_b64(other)),
        ),
        (
            "Repr-Digest",
            format!(
                "sha-256=:{}:, sha-512=:{}:",
                sha256_b64(body),
                sha512_b64(body)
            ),
            format!(
                "sha-256=:{}:, sha-512=:{}:",
                sha256_b64(body),
                sha512_b64(other)
            ),
        ),
        (
            "Content-MD5",
            B64.encode(md5_digest(body)),
            B64.encode(md5_digest(other)),
        ),
    ]
}

fn sha1_digest(bytes: &[u8]) -> Vec<u8> {
    let mut d = packages_core::MultiHasher::new();
    d.update(bytes);
    hex::decode(d.finalize().sha1).expect("hex")
}

fn md5_digest(bytes: &[u8]) -> Vec<u8> {
    let mut d = packages_core::MultiHasher::new();
    d.update(bytes);
    hex::decode(d.finalize().md5).expect("hex")
}

fn verified_uploads(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    // A body read into memory and one streamed to disk take different paths.
    let small = b"small body".to_vec();
    let large: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for (kind, body) in [("small", &small), ("large", &large)] {
        for (i, (header, right, wrong)) in forms(body).into_iter().enumerate() {
            let path = file_path(OWNER, "verified", "1", &format!("{kind}-{i}.bin"));
            let r = s.request("PUT", &path, &user2(), &[(header, &wrong)], Some(body));
            status(&r, 400);
            let message = r.text();
            assert!(
                message.starts_with(header) && message.contains("does not match"),
                "{header}: {message}"
            );
            let (sent, actual) = match header {
                "X-Checksum-Sha256" => (wrong.clone(), sha256_hex(body)),
                "Content-MD5" => (wrong.clone(), B64.encode(md5_digest(body))),
                "Content-Digest" if wrong.starts_with("sha-256") => (
                    format!(":{}:", sha256_b64(b"something else")),
                    format!(":{}:", sha256_b64(body)),
                ),
                "Repr-Digest" => (
                    format!(":{}:", sha512_b64(b"something else")),
                    format!(":{}:", sha512_b64(body)),
                ),
                _ => (String::new(), String::new()),
            };
            assert!(
                message.contains(&sent) && message.contains(&actual),
                "{header}: both digests in {message}"
            );
            status(&s.get(&path, &ANON), 404);

            let r = s.request("PUT", &path, &user2(), &[(header, &right)], Some(body));
            status(&r, 201);
            let json = r.json();
            assert_eq!(json["size"], body.len() as u64, "{}", r.describe());
            assert_eq!(json["sha256"], sha256_hex(body));
            assert_eq!(json["sha512"], hex::encode(sha2::Sha512::digest(body)));
            assert_eq!(json["md5"], hex::encode(md5_digest(body)));
            assert_eq!(json["sha1"], hex::encode(sha1_digest(body)));
            let url = json["url"].as_str().expect("url");
            assert_eq!(url, s.url(&path));
            assert_eq!(r.header("location"), Some(url));
            let got = s.get(&path, &ANON);
            status(&got, 200);
            assert_eq!(&got.body, body);
        }
    }
    // A refused upload leaves no row and no stray content behind.
    let files = s.stored_package_files(OWNER, "verified", "1");
    assert_eq!(files.len(), 2 * forms(&small).len());
    assert_eq!(s.blob_count(), 2);
    let on_disk: Vec<_> = s
        .files_on_disk()
        .into_iter()
        .filter(|p| !p.starts_with(s.upload_tmp_dir()))
        .collect();
    assert_eq!(on_disk.len(), 2, "{on_disk:?}");
    assert!(forge_e2e::files_under(&s.upload_tmp_dir()).is_empty());
}

fn malformed_digest_headers(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let path = file_path(OWNER, "verified", "1", "f.bin");
    for (header, value) in [
        ("X-Checksum-Sha256", "not-hex"),
        ("X-Checksum-Sha256", "abcd"),
        ("X-Checksum-Sha1", &"0".repeat(64)),
        ("X-Checksum-Md5", "zz"),
        ("Content-Digest", "sha-256=abc"),
        ("Content-Digest", "sha-256=:AAAA:"),
        ("Content-Digest", "md5=:AAAA:"),
        ("Repr-Digest", "sha-512=:%%%:"),
        ("Repr-Digest", "sha-256"),
        ("Content-MD5", "short"),
    ] {
        let r = s.request("PUT", &path, &user2(), &[(header, value)], Some(b"data"));
        status(&r, 400);
        let message = r.text();
        assert!(
            message.starts_with(&format!("malformed {header} header")),
            "{header}: {value}: {message}"
        );
    }
    status(&s.get(&path, &ANON), 404);
    assert!(s.stored_versions(OWNER).is_empty());
}

fn repr_digest_on_download(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let path = file_path(OWNER, "digests", "1", "f.bin");
    status(&s.put(&path, &body, &user2()), 201);
    let both = format!(
        "sha-256=:{}:, sha-512=:{}:",
        sha256_b64(&body),
        sha512_b64(&body)
    );
    let r = s.get(&path, &ANON);
    status(&r, 200);
    assert_eq!(r.header("repr-digest"), Some(both.as_str()));
    assert_eq!(
        r.header("x-checksum-sha256"),
        Some(sha256_hex(&body).as_str())
    );
    let r = s.head(&path, &ANON);
    assert_eq!(r.header("repr-digest"), Some(both.as_str()));
    // A range still carries the digests of the whole representation.
    let r = s.get_with(&path, &ANON, &[("Range", "bytes=10-19")]);
    status(&r, 206);
    assert_eq!(r.body, &body[10..20]);
    assert_eq!(r.header("repr-digest"), Some(both.as_str()));
    // Want-Repr-Digest picks the algorithms, heaviest first.
    let sha512_only = format!("sha-512=:{}:", sha512_b64(&body));
    let r = s.get_with(
        &path,
        &ANON,
        &[("Want-Repr-Digest", "sha-512=3, sha-256=0")],
    );
    assert_eq!(r.header("repr-digest"), Some(sha512_only.as_str()));
    let r = s.get_with(
        &path,
        &ANON,
        &[("Want-Repr-Digest", "sha-256=1, sha-512=9")],
    );
    assert_eq!(
        r.header("repr-digest"),
        Some(
            format!(
                "sha-512=:{}:, sha-256=:{}:",
                sha512_b64(&body),
                sha256_b64(&body)
            )
            .as_str()
        )
    );
    // Nothing the server has: it chooses.
    let r = s.get_with(&path, &ANON, &[("Want-Repr-Digest", "sha=10")]);
    assert_eq!(r.header("repr-digest"), Some(both.as_str()));
    // Small files come from the in-memory cache; the header is the same.
    let small = file_path(OWNER, "digests", "1", "small.bin");
    status(&s.put(&small, b"tiny", &user2()), 201);
    for _ in 0..2 {
        let r = s.get(&small, &ANON);
        assert_eq!(
            r.header("repr-digest"),
            Some(
                format!(
                    "sha-256=:{}:, sha-512=:{}:",
                    sha256_b64(b"tiny"),
                    sha512_b64(b"tiny")
                )
                .as_str()
            )
        );
    }
}

forge_e2e::backends!(
    verified_uploads,
    malformed_digest_headers,
    repr_digest_on_download
);

//! `forge-server admin storage migrate --to s3`: a local store moved into a bucket and served
//! from it byte for byte; content changed on disk is refused and not recorded; running the
//! command again copies only what is missing.

use std::path::PathBuf;
use std::process::Output;

use forge_e2e::s3::{seaweed_or_skip, unique_prefix, Seaweed, S3_ACCESS_KEY, S3_BUCKET};
use forge_e2e::{file_path, sha256_hex, Auth, Backend, TestServer, ANON, PASSWORD};
use forge_server::config::StorageType;

use crate::config::forge;

/// Runs the command as an operator would, everything from the environment.
fn migrate(s: &TestServer, weed: &Seaweed, prefix: &str) -> (bool, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = forge(&["admin", "storage", "migrate", "--to", "s3"])
        .env("FORGE_DATA_DIR", s.data_dir())
        .env("FORGE_DATABASE_URL", s.env.database_url())
        .env("FORGE_STORAGE_S3_ENDPOINT", &weed.endpoint)
        .env("FORGE_STORAGE_S3_BUCKET", S3_BUCKET)
        .env("FORGE_STORAGE_S3_ACCESS_KEY_ID", S3_ACCESS_KEY)
        .env(
            "FORGE_STORAGE_S3_SECRET_ACCESS_KEY",
            forge_e2e::s3::S3_SECRET_KEY,
        )
        .env("FORGE_STORAGE_S3_PREFIX", prefix)
        .output()
        .expect("run forge-server");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.success(), text)
}

fn local_path(s: &TestServer, sha: &str) -> PathBuf {
    s.packages_dir().join(&sha[0..2]).join(&sha[2..4]).join(sha)
}

fn storage_key(s: &TestServer, sha: &str) -> Option<String> {
    s.db()
        .blob_by_sha256(sha)
        .expect("blob query")
        .expect("blob row")
        .storage_key
}

fn migrate_local_store_into_bucket(backend: Backend) {
    let Some(weed) = seaweed_or_skip() else {
        return;
    };
    let mut s = TestServer::start(backend);
    s.create_user("alice", PASSWORD, false);
    let auth = Auth::basic("alice", PASSWORD);
    let pattern = |len: u32, k: u32| (0..len).map(|i| (i * k % 251) as u8).collect::<Vec<u8>>();
    // Bodies over one 8 MiB part (copied as multipart uploads), small ones, and two files
    // sharing their content (one blob).
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("big.bin", pattern(9_500_000, 3)),
        ("small.txt", b"hello".to_vec()),
        ("same-a.bin", vec![7u8; 70_000]),
        ("same-b.bin", vec![7u8; 70_000]),
        ("bad.bin", pattern(8_600_000, 7)),
    ];
    for (name, body) in &files {
        let r = s.put(&file_path("alice", "app", "1.0", name), body, &auth);
        assert_eq!(r.status, 201, "{name}: {}", r.describe());
    }
    s.stop();

    // One file's bytes change on disk (same length).
    let bad = &files[4].1;
    let bad_sha = sha256_hex(bad);
    let bad_file = local_path(&s, &bad_sha);
    let mut perms = std::fs::metadata(&bad_file).expect("stat").permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&bad_file, perms).expect("chmod");
    let mut corrupted = bad.clone();
    corrupted[5_000_000] ^= 0xff;
    std::fs::write(&bad_file, &corrupted).expect("corrupt");

    let prefix = unique_prefix();
    let (ok, out) = migrate(&s, weed, &prefix);
    assert!(!ok, "a corrupted file must fail the run:\n{out}");
    assert!(
        out.contains(&format!(
            "FAILED {bad_sha}: the local content does not match"
        )),
        "{out}"
    );
    assert!(
        out.contains("4 blobs: 3 copied (9570005 bytes), 0 already in the bucket"),
        "{out}"
    );
    assert!(out.contains("1 blobs could not be moved"), "{out}");
    for (_, body) in &files[..4] {
        let sha = sha256_hex(body);
        assert_eq!(storage_key(&s, &sha).as_deref(), Some(sha.as_str()));
    }
    // Not recorded, no object, and its multipart upload aborted.
    assert_eq!(storage_key(&s, &bad_sha), None);
    let mut config = s.env.config.clone();
    config.storage.kind = StorageType::S3;
    config.storage.s3.endpoint = weed.endpoint.clone();
    config.storage.s3.bucket = S3_BUCKET.to_owned();
    config.storage.s3.access_key_id = S3_ACCESS_KEY.to_owned();
    config.storage.s3.secret_access_key = forge_e2e::s3::S3_SECRET_KEY.into();
    config.storage.s3.prefix = prefix.clone();
    let bucket = forge_server::storage::open_s3(&config).expect("bucket");
    assert_eq!(bucket.object_len(&bad_sha).expect("HEAD"), None);
    assert_eq!(bucket.unfinished_uploads().expect("uploads"), 0);

    // Mended on disk: the next run copies that one only, the one after nothing.
    std::fs::write(&bad_file, bad).expect("mend");
    let (ok, out) = migrate(&s, weed, &prefix);
    assert!(ok, "{out}");
    assert!(
        out.contains("4 blobs: 1 copied (8600000 bytes), 3 already in the bucket"),
        "{out}"
    );
    let (ok, out) = migrate(&s, weed, &prefix);
    assert!(ok, "{out}");
    assert!(
        out.contains("4 blobs: 0 copied (0 bytes), 4 already in the bucket"),
        "{out}"
    );

    // The server on the bucket with the same database serves every file, with the local
    // store out of the way.
    let moved = s.data_dir().join("packages.moved");
    std::fs::rename(s.packages_dir(), &moved).expect("move the local store away");
    s.env.config = config;
    s.restart();
    for (name, body) in &files {
        let r = s.get(&file_path("alice", "app", "1.0", name), &ANON);
        assert_eq!(r.status, 200, "{name}");
        assert!(r.body == *body, "{name} differs after the move");
    }
    let mut report = Vec::new();
    let verified = forge_server::admin::verify(
        s.config(),
        &forge_server::verify::VerifyOptions {
            rehash: true,
            ..Default::default()
        },
        &mut report,
    )
    .expect("verify");
    assert!(
        verified.problems.is_empty() && verified.files_checked == 5,
        "{}",
        String::from_utf8_lossy(&report)
    );
}

forge_e2e::backends!(migrate_local_store_into_bucket);

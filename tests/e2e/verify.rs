//! `admin verify`: a clean store passes; missing content, content of the wrong size or
//! digests, and unreferenced content past the grace period are each reported; `--repair`
//! removes the rows of missing files; the command exits non-zero on a problem.

use std::process::Command;
use std::time::Duration;

use forge_e2e::{file_path, server_binary, sha256_hex, Auth, Backend, TestServer};
use forge_server::verify::{VerifyOptions, VerifyReport};

fn run(s: &TestServer, rehash: bool, repair: bool) -> (VerifyReport, String) {
    let options = VerifyOptions {
        owner: None,
        rehash,
        repair,
        grace: Duration::ZERO,
    };
    let mut out = Vec::new();
    let report = forge_server::admin::verify(s.config(), &options, &mut out).expect("verify");
    (report, String::from_utf8_lossy(&out).into_owned())
}

fn content_path(s: &TestServer, body: &[u8]) -> std::path::PathBuf {
    let sha = sha256_hex(body);
    s.packages_dir()
        .join(&sha[0..2])
        .join(&sha[2..4])
        .join(&sha)
}

fn verify_finds_every_kind_of_damage(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("alice", "password", false);
    let auth = Auth::basic("alice", "password");
    let bodies: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 70_000 + i as usize]).collect();
    for (i, body) in bodies.iter().enumerate() {
        let path = file_path("alice", "app", "1.0", &format!("f{i}.bin"));
        assert_eq!(s.put(&path, body, &auth).status, 201);
    }
    let (report, out) = run(&s, true, false);
    assert!(report.problems.is_empty(), "{out}");
    assert_eq!(report.files_checked, 3);

    // Same size, other bytes: only a rehash sees it.
    std::fs::write(content_path(&s, &bodies[0]), vec![9u8; bodies[0].len()]).unwrap();
    assert!(run(&s, false, false).0.problems.is_empty());
    let (report, out) = run(&s, true, false);
    assert_eq!(report.problems.len(), 1, "{out}");
    assert!(
        out.contains("f0.bin: content does not match its MD5, SHA-1, SHA-256, SHA-512"),
        "{out}"
    );
    // Another size.
    std::fs::write(content_path(&s, &bodies[1]), b"short").unwrap();
    let (report, out) = run(&s, false, false);
    assert_eq!(report.problems.len(), 1, "{out}");
    assert!(
        out.contains("content is 5 bytes, the row says 70001"),
        "{out}"
    );
    // Missing content, and content no row refers to.
    std::fs::remove_file(content_path(&s, &bodies[2])).unwrap();
    let stray = vec![4u8; 10];
    let stray_path = content_path(&s, &stray);
    std::fs::create_dir_all(stray_path.parent().unwrap()).unwrap();
    std::fs::write(&stray_path, &stray).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let (report, out) = run(&s, false, false);
    assert_eq!(report.problems.len(), 3, "{out}");
    assert!(out.contains("f2.bin: content"), "{out}");
    assert!(out.contains("is missing"), "{out}");
    assert!(out.contains("referenced by no row"), "{out}");

    // The command line says so with its exit status.
    let cli = |args: &[&str]| {
        let mut cmd = Command::new(server_binary());
        cmd.args(["admin", "verify"])
            .args(args)
            .env("FORGE_DATA_DIR", &s.config().server.data_dir)
            .env("FORGE_BLOB_GRACE_PERIOD", "0");
        let url = s.config().database.url.expose();
        if url.is_empty() {
            cmd.env_remove("FORGE_DATABASE_URL");
        } else {
            cmd.env("FORGE_DATABASE_URL", url);
        }
        cmd.output().expect("run forge-server admin verify")
    };
    let out = cli(&["--owner", "alice"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified 3 files"));

    // Repair removes the row of the missing file, saying so first.
    let (report, out) = run(&s, false, true);
    assert_eq!(report.rows_removed, 1, "{out}");
    assert!(out.contains("repair:   generic/app/1.0/f2.bin"), "{out}");
    assert_eq!(s.stored_package_files("alice", "app", "1.0").len(), 2);
    std::fs::remove_file(&stray_path).unwrap();
    std::fs::write(content_path(&s, &bodies[0]), &bodies[0]).unwrap();
    std::fs::write(content_path(&s, &bodies[1]), &bodies[1]).unwrap();
    assert!(cli(&["--rehash"]).status.success());
}

forge_e2e::backends!(verify_finds_every_kind_of_damage);

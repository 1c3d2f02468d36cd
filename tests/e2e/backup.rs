//! `admin backup` while uploads keep arriving, `admin restore` into a fresh data directory
//! and database, and a verify of every restored file.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use forge_e2e::{file_path, Auth, Backend, TestEnv, TestServer, ANON};

fn backup_under_load_then_restore(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("alice", "password", false);
    let auth = Auth::basic("alice", "password");
    let bodies: Vec<Vec<u8>> = (0..5u8)
        .map(|i| vec![i; 1000 * (i as usize + 1) * 30])
        .collect();
    for (i, body) in bodies.iter().enumerate() {
        let path = file_path("alice", "app", "1.0", &format!("f{i}.bin"));
        assert_eq!(s.put(&path, body, &auth).status, 201);
    }

    // Uploads keep arriving while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let uploaded = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, uploaded) = (stop.clone(), uploaded.clone());
        let base = s.base.clone();
        let header = auth.header_value().unwrap_or_default();
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let url = format!(
                    "{base}{}",
                    file_path("alice", "load", "1.0", &format!("l{i}.bin"))
                );
                let body = vec![(i % 251) as u8; 20_000 + i];
                if ureq::put(&url)
                    .set("Authorization", &header)
                    .send_bytes(&body)
                    .is_ok()
                {
                    uploaded.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        })
    };
    while uploaded.load(Ordering::Relaxed) < 3 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let dir = tempfile::tempdir().expect("backup directory");
    let target = dir.path().join("backup");
    let report = forge_server::backup::backup(s.config(), &target).expect("backup");
    stop.store(true, Ordering::Relaxed);
    load.join().expect("load thread");
    assert!(report.blobs >= 8, "{report:?}");
    // A second backup into the same place is refused rather than mixed.
    assert!(forge_server::backup::backup(s.config(), &target).is_err());

    let fresh = TestEnv::new(backend);
    let mut out = Vec::new();
    let verified = forge_server::backup::restore(&fresh.config, &target, &mut out)
        .unwrap_or_else(|e| panic!("restore: {e}\n{}", String::from_utf8_lossy(&out)));
    assert!(verified.problems.is_empty());
    // At least the five files stored before the load began (on PostgreSQL the manifest,
    // read after the dump, may list more blobs than the dump has files).
    assert!(verified.files_checked >= 5, "{verified:?} {report:?}");
    let restored = fresh.start();
    for (i, body) in bodies.iter().enumerate() {
        let path = file_path("alice", "app", "1.0", &format!("f{i}.bin"));
        assert!(restored.get(&path, &ANON).body == *body, "f{i}.bin differs");
    }
    // Restoring over existing data is refused.
    let mut out = Vec::new();
    assert!(forge_server::backup::restore(restored.config(), &target, &mut out).is_err());
}

forge_e2e::backends!(backup_under_load_then_restore);

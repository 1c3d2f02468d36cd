//! A timing run over a million stored versions; ignored by default.

use packages_core::PackageType;

use super::packages::upload;
use super::user;
use crate::{Database, FileLookup, Page, VersionFilter};

const GENERIC: PackageType = PackageType::Generic;

/// Seeds many versions and times the per-request queries on top of them. Run with
/// `cargo test --release -p packages-db million -- --ignored --nocapture`; the count comes
/// from `FORGE_SEED_COUNT` (default one million).
#[test]
#[ignore = "slow: seeds a million versions"]
fn million_versions_sqlite() {
    super::with_sqlite(time_many_versions);
}

/// The PostgreSQL twin of [`million_versions_sqlite`].
#[test]
#[ignore = "slow: seeds a million versions"]
fn million_versions_postgres() {
    super::with_postgres(time_many_versions);
}

fn time_many_versions(db: &Database) {
    use std::time::Instant;
    let count: u64 = std::env::var("FORGE_SEED_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let u = user(db, "big");
    let start = Instant::now();
    db.seed_versions(u.id, GENERIC, "pkg-", count).unwrap();
    eprintln!(
        "{:?}: seeded {count} versions in {:?}",
        db.backend(),
        start.elapsed()
    );
    let last = format!("pkg-{}", (count - 1) / 1000);
    let timed = |what: &str, f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..100 {
            f();
        }
        eprintln!("{what}: {:?} per call", start.elapsed() / 100);
    };
    timed("find_file", &|| {
        let found = db
            .find_file(u.id, GENERIC, &last, "1.0.0", "file.bin")
            .unwrap();
        assert!(matches!(found, FileLookup::Found { .. }));
    });
    timed("file_exists", &|| {
        assert!(db
            .file_exists(u.id, GENERIC, &last, "1.0.0", "file.bin")
            .unwrap());
    });
    let n = std::sync::atomic::AtomicU64::new(0);
    timed("add_file (no limits)", &|| {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        db.add_file(&upload(u.id, &last, &format!("new-{i}"), "f", b"x"))
            .unwrap();
    });
    timed("list_versions page 1", &|| {
        let (rows, _) = db
            .list_versions(u.id, &VersionFilter::default(), Page { page: 1, limit: 30 })
            .unwrap();
        assert_eq!(rows.len(), 30);
    });
    timed("latest_version", &|| {
        assert!(db.latest_version(u.id, GENERIC, &last).unwrap().is_some());
    });
    let start = Instant::now();
    let usage = db.owner_usage(u.id).unwrap();
    eprintln!("owner_usage {usage:?}: {:?}", start.elapsed());
}

/// Small uploads into one existing package from 16 threads, each a new version with new
/// content, as `make bench`'s P4 does through HTTP: the database's share of an upload.
/// Run with `cargo test --release -p packages-db upload_rate -- --ignored --nocapture`.
#[test]
#[ignore = "a timing run"]
fn upload_rate_postgres() {
    super::with_postgres(|db| {
        use std::time::Instant;
        const THREADS: usize = 16;
        const EACH: usize = 1000;
        let u = user(db, "rate");
        db.add_file(&upload(u.id, "pkg", "0", "f.bin", b"seed"))
            .unwrap();
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..THREADS {
                s.spawn(move || {
                    for i in 0..EACH {
                        let v = format!("{t}.{i}");
                        db.add_file(&upload(u.id, "pkg", &v, "f.bin", v.as_bytes()))
                            .unwrap();
                    }
                });
            }
        });
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{} uploads in {secs:.2} s: {:.0} /s",
            THREADS * EACH,
            (THREADS * EACH) as f64 / secs
        );
    });
}

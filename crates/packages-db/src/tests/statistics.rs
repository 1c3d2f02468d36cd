//! Planner statistics refreshed once a package table outgrew them (PostgreSQL only).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use super::packages::upload;
use super::{user, with_postgres, with_sqlite};
use crate::Database;

#[test]
fn postgres_tables_that_outgrew_their_statistics_are_analyzed() {
    with_postgres(outgrown);
}

#[test]
fn sqlite_has_no_statistics_to_refresh() {
    with_sqlite(|db| {
        let owner = user(db, "lite").id;
        db.add_file(&upload(owner, "pkg", "1.0", "a.bin", b"a"))
            .unwrap();
        assert!(db.refresh_statistics().unwrap().is_empty());
    });
}

/// Polls until the activity counters, which lag by up to a second, show `want` or 10 s
/// have passed; returns the last answer.
fn refresh_until(db: &Database, want: impl Fn(&[&str]) -> bool) -> Vec<&'static str> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let analyzed = db.refresh_statistics().unwrap();
        if want(&analyzed) || Instant::now() > deadline {
            return analyzed;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn outgrown(db: &Database) {
    let owner = user(db, "grows").id;
    db.add_file(&upload(owner, "pkg", "1.0", "first.bin", b"first"))
        .unwrap();
    // Statistics taken while the tables hold a row or two, as autovacuum takes them early on.
    let mut direct = PgConnection::establish(db.postgres_url().unwrap()).unwrap();
    direct.batch_execute("ANALYZE").unwrap();
    assert!(db.refresh_statistics().unwrap().is_empty());

    for i in 0..1100 {
        let content = format!("content {i}");
        db.add_file(&upload(
            owner,
            "pkg",
            &format!("2.{i}"),
            "f.bin",
            content.as_bytes(),
        ))
        .unwrap();
    }
    let analyzed = refresh_until(db, |t| t.contains(&"package_blob"));
    for table in ["package_version", "package_blob", "package_file"] {
        assert!(analyzed.contains(&table), "{table} not in {analyzed:?}");
    }
    // Analyzed: their counters start again, and nothing is due until they grow as much again.
    assert!(db.refresh_statistics().unwrap().is_empty());
}

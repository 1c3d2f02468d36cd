//! Tests run against a fresh SQLite file always, and against a fresh PostgreSQL database
//! when `FORGE_TEST_DATABASE_URL` names a server.

mod accounts;
mod bench;
mod one_statement;
mod orgs;
mod packages;
mod races;
mod statistics;
mod users;

use packages_core::{Digests, MultiHasher};

use crate::testing::{create_unique_postgres_database, drop_postgres_database};
use crate::{Database, NewUser, User};

/// Connections per test pool: fewer than the race tests' threads, so they also wait on it.
const POOL_SIZE: u32 = 8;

pub(crate) fn digests(content: &[u8]) -> Digests {
    let mut h = MultiHasher::new();
    h.update(content);
    h.finalize()
}

pub(crate) fn user(db: &Database, name: &str) -> User {
    db.create_user(&NewUser::user(
        name,
        &format!("{name}@example.com"),
        Some("hash".into()),
    ))
    .unwrap()
}

pub(crate) fn with_sqlite(test: fn(&Database)) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("forge.db").display());
    let db = Database::connect(&url, POOL_SIZE).unwrap();
    assert_eq!(db.backend(), crate::Backend::Sqlite);
    db.run_migrations().unwrap();
    test(&db);
}

/// Drops the test database even when the test panics.
struct PgGuard {
    server: String,
    name: String,
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        if let Err(e) = drop_postgres_database(&self.server, &self.name) {
            eprintln!("dropping test database {}: {e}", self.name);
        }
    }
}

pub(crate) fn with_postgres(test: fn(&Database)) {
    let Ok(server) = std::env::var("FORGE_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("FORGE_TEST_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "FORGE_TEST_REQUIRE_POSTGRES=1 but FORGE_TEST_DATABASE_URL is not set"
        );
        eprintln!("FORGE_TEST_DATABASE_URL not set; skipping the PostgreSQL variant");
        return;
    };
    let (url, name) = create_unique_postgres_database(&server, "packages_db_test").unwrap();
    let guard = PgGuard { server, name };
    {
        let db = Database::connect(&url, POOL_SIZE).unwrap();
        assert_eq!(db.backend(), crate::Backend::Postgres);
        db.run_migrations().unwrap();
        test(&db);
    }
    drop(guard);
}

/// Declares each listed test function once per backend: `sqlite::name` and `postgres::name`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { $crate::tests::with_sqlite(super::$name) })*
        }
        mod postgres {
            $(#[test] fn $name() { $crate::tests::with_postgres(super::$name) })*
        }
    };
}
pub(crate) use backend_tests;

#[test]
fn connect_rejects_an_empty_sqlite_path() {
    assert!(Database::connect("sqlite://", 1).is_err());
}

#[test]
fn unreachable_postgres_is_unavailable() {
    match Database::connect("postgres://postgres@127.0.0.1:1/none?connect_timeout=1", 1) {
        Err(crate::DbError::Unavailable) => {}
        other => panic!("expected Unavailable, got {:?}", other.map(|d| d.backend())),
    }
}

#[test]
fn unopenable_sqlite_file_is_an_error() {
    assert!(matches!(
        Database::connect("/nonexistent-dir/forge.db", 1),
        Err(crate::DbError::Other(_))
    ));
}

//! The one-statement upload on PostgreSQL meeting a writer that commits while it runs: it
//! must undo itself entirely, and the general transaction must then decide.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use super::packages::upload;
use super::{digests, user, with_postgres};
use crate::{AddedFile, Database, DbError};

/// An owner with package `pkg` 1.0 holding `seed.bin`: the package the statement needs.
fn seeded(db: &Database) -> (i64, AddedFile) {
    let owner = user(db, "owner").id;
    let seed = db
        .add_file(&upload(owner, "pkg", "1.0", "seed.bin", b"seed"))
        .unwrap();
    (owner, seed)
}

/// The statement another session runs to add version 2.0 to the seeded package.
fn insert_version_2(owner: i64, seed: &AddedFile) -> String {
    format!(
        "INSERT INTO package_version (package_id, creator_id, version, lower_version, \
         created_unix, is_internal, download_count) \
         VALUES ({}, {owner}, '2.0', '2.0', 0, FALSE, 0)",
        seed.package_id
    )
}

/// Another session with an open transaction; what it wrote is committed by `commit`.
fn other_writer(db: &Database, statements: &str) -> PgConnection {
    let mut other = PgConnection::establish(db.postgres_url().unwrap()).unwrap();
    other.batch_execute("BEGIN").unwrap();
    other.batch_execute(statements).unwrap();
    other
}

/// Runs `upload` on a thread until it waits on one of `other`'s locks, then runs `then` in
/// `other`, commits it, and answers the upload's result.
fn upload_against(
    db: &Database,
    mut other: PgConnection,
    upload: crate::NewUpload,
    then: &str,
) -> Result<AddedFile, DbError> {
    let uploader = {
        let db = db.clone();
        std::thread::spawn(move || db.add_file(&upload))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        #[derive(diesel::QueryableByName)]
        struct Waiting {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let waiting: Waiting = diesel::RunQueryDsl::get_result(
            diesel::sql_query("SELECT count(*) AS n FROM pg_locks WHERE NOT granted"),
            &mut other,
        )
        .unwrap();
        if waiting.n > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the upload never waited");
        assert!(!uploader.is_finished(), "the upload did not wait");
        std::thread::sleep(Duration::from_millis(10));
    }
    if !then.is_empty() {
        other.batch_execute(then).unwrap();
    }
    other.batch_execute("COMMIT").unwrap();
    uploader.join().unwrap()
}

/// A version committed after the statement's snapshot: the file insert finds no version,
/// fails, and takes the statement's blob insert with it; the general transaction then
/// adds the file to that version, creating the blob itself.
#[test]
fn a_version_committed_meanwhile() {
    with_postgres(|db| {
        let (owner, seed) = seeded(db);
        let other = other_writer(db, &insert_version_2(owner, &seed));
        let added =
            upload_against(db, other, upload(owner, "pkg", "2.0", "a.bin", b"a"), "").unwrap();
        assert!(!added.version_created);
        assert!(added.blob_created, "the statement's blob row outlived it");
        assert_eq!(db.version_files(added.version_id).unwrap().len(), 1);
    });
}

/// A file committed after the statement's snapshot into a version it sees: the file insert
/// violates the unique name, and the blob the statement inserted for its content goes too.
#[test]
fn a_file_committed_meanwhile() {
    with_postgres(|db| {
        let (owner, seed) = seeded(db);
        let other = other_writer(
            db,
            &format!(
                "INSERT INTO package_file (version_id, blob_id, name, lower_name, composite_key, \
                 is_lead, created_unix) VALUES ({}, {}, 'a.bin', 'a.bin', '', TRUE, 0)",
                seed.version_id, seed.blob_id
            ),
        );
        let result = upload_against(db, other, upload(owner, "pkg", "1.0", "A.bin", b"mine"), "");
        assert!(matches!(result, Err(DbError::FileExists)), "{result:?}");
        assert!(db
            .blob_by_sha256(&digests(b"mine").sha256)
            .unwrap()
            .is_none());
        assert_eq!(db.version_files(seed.version_id).unwrap().len(), 2);
    });
}

/// The statement inserts the blob of its content, then waits on the version another session
/// inserted; that session then inserts a blob of the same content: a deadlock, which
/// PostgreSQL breaks by aborting the statement (it waited first). The abort undoes it, and
/// the upload goes on through the general transaction instead of failing.
#[test]
fn a_deadlock_victim_falls_back_to_the_transaction() {
    with_postgres(|db| {
        let (owner, seed) = seeded(db);
        let other = other_writer(db, &insert_version_2(owner, &seed));
        let d = digests(b"shared");
        let then = format!(
            "INSERT INTO package_blob (size, hash_md5, hash_sha1, hash_sha256, hash_sha512, \
             created_unix) VALUES ({}, '{}', '{}', '{}', '{}', 0)",
            d.size, d.md5, d.sha1, d.sha256, d.sha512
        );
        let shared = upload(owner, "pkg", "2.0", "a.bin", b"shared");
        let added = upload_against(db, other, shared, &then).unwrap();
        assert!(!added.version_created && !added.blob_created);
        assert_eq!(db.version_files(added.version_id).unwrap().len(), 1);
    });
}

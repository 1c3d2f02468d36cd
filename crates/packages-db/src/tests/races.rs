use std::sync::{Arc, Barrier};

use packages_core::PackageType;

use super::packages::upload;
use super::{backend_tests, digests, user};
use packages_core::Limit;

use crate::{
    AddedFile, Backend, Database, DbError, FileLookup, Job, NewUser, UploadLimits, UserChanges,
};

const THREADS: usize = 20;

backend_tests!(
    same_new_file_from_many_clients,
    same_new_file_into_an_existing_package,
    different_files_into_one_new_version,
    uploads_race_the_sweeps,
    one_account_per_email_address,
    the_last_two_admins_cannot_both_step_down,
    concurrent_uploads_respect_the_owner_limits,
    exclusive_jobs_run_in_one_process_at_a_time,
);

/// Runs `f(i)` on `THREADS` threads that start together and collects the results.
fn race<T: Send + 'static>(
    db: &Database,
    f: impl Fn(&Database, usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let (db, barrier, f) = (db.clone(), barrier.clone(), f.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f(&db, i)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn same_new_file_from_many_clients(db: &Database) {
    let u = user(db, "racer");
    let owner = u.id;
    let results = race(db, move |db, _| {
        db.add_file(&upload(owner, "Race", "1.0", "same.bin", b"same content"))
    });
    let ok: Vec<&AddedFile> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let exists = results
        .iter()
        .filter(|r| matches!(r, Err(DbError::FileExists)))
        .count();
    assert_eq!(ok.len(), 1, "results: {results:?}");
    assert_eq!(exists, THREADS - 1, "results: {results:?}");
    assert!(ok[0].version_created && ok[0].blob_created);
    assert_eq!(db.owner_usage(owner).unwrap().0, 1);
    assert_eq!(db.version_files(ok[0].version_id).unwrap().len(), 1);
}

/// The package exists, so on PostgreSQL every client tries the one-statement upload: the
/// losers' statements fail on the version or file committed meanwhile, and nothing of them
/// (a version, a blob of their content) stays behind.
fn same_new_file_into_an_existing_package(db: &Database) {
    let u = user(db, "racer");
    let owner = u.id;
    db.add_file(&upload(owner, "Race", "0.1", "seed.bin", b"seed"))
        .unwrap();
    let content = |i: usize| format!("content of client {i}");
    let results = race(db, move |db, i| {
        db.add_file(&upload(
            owner,
            "race",
            "2.0",
            "same.bin",
            content(i).as_bytes(),
        ))
    });
    let winners: Vec<usize> = (0..THREADS).filter(|&i| results[i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "results: {results:?}");
    let exists = results
        .iter()
        .filter(|r| matches!(r, Err(DbError::FileExists)))
        .count();
    assert_eq!(exists, THREADS - 1, "results: {results:?}");
    let won = results[winners[0]].as_ref().unwrap();
    assert!(won.version_created && won.blob_created);
    assert_eq!(db.version_files(won.version_id).unwrap().len(), 1);
    // The seed's version and the new one.
    assert_eq!(db.owner_usage(owner).unwrap().0, 2, "results: {results:?}");
    for i in (0..THREADS).filter(|&i| i != winners[0]) {
        let sha256 = digests(content(i).as_bytes()).sha256;
        assert!(
            db.blob_by_sha256(&sha256).unwrap().is_none(),
            "client {i}'s blob row was left behind"
        );
    }
}

fn different_files_into_one_new_version(db: &Database) {
    let u = user(db, "crowd");
    let owner = u.id;
    let results = race(db, move |db, i| {
        db.add_file(&upload(
            owner,
            "Crowd",
            "1.0",
            &format!("file-{i}.bin"),
            format!("content {i}").as_bytes(),
        ))
    });
    let added: Vec<AddedFile> = results
        .into_iter()
        .map(|r| r.expect("every upload succeeds"))
        .collect();
    assert_eq!(added.iter().filter(|a| a.version_created).count(), 1);
    assert!(added.iter().all(|a| a.blob_created));
    let version_id = added[0].version_id;
    assert!(added.iter().all(|a| a.version_id == version_id));
    assert_eq!(db.owner_usage(owner).unwrap().0, 1);
    assert_eq!(db.version_files(version_id).unwrap().len(), THREADS);
}

/// Uploads sharing one blob and one package while the sweeps delete unreferenced blobs and
/// empty packages: no upload fails, and nothing an upload committed is swept away.
fn uploads_race_the_sweeps(db: &Database) {
    let u = user(db, "swept");
    let owner = u.id;
    // An old unreferenced blob and an empty package, as left by deletions.
    let seed = db
        .add_file(&upload(owner, "Shared", "0", "seed.bin", b"shared"))
        .unwrap();
    db.delete_version(owner, PackageType::Generic, "shared", "0")
        .unwrap();
    let results = race(db, move |db, i| {
        if i % 4 == 0 {
            // Sweepers: every blob counts as old here.
            let mut deleted = 0;
            for _ in 0..5 {
                for blob in db.unreferenced_blobs(i64::MAX, 100)? {
                    if db.delete_blob_if_unreferenced(blob.id)? {
                        deleted += 1;
                    }
                }
                db.delete_packages_without_versions()?;
            }
            Ok(deleted)
        } else {
            db.add_file(&upload(
                owner,
                "shared",
                &format!("{i}"),
                "f.bin",
                b"shared",
            ))
            .map(|_| 0)
        }
    });
    for r in &results {
        assert!(r.is_ok(), "results: {results:?}");
    }
    // Every committed upload is complete: version, file and blob.
    for i in (0..THREADS).filter(|i| i % 4 != 0) {
        match db
            .find_file(
                owner,
                PackageType::Generic,
                "shared",
                &i.to_string(),
                "f.bin",
            )
            .unwrap()
        {
            FileLookup::Found { blob, .. } => assert_eq!(blob.size, 6),
            other => panic!("upload {i} lost: {other:?}"),
        }
    }
    let _ = seed;
}

fn one_account_per_email_address(db: &Database) {
    let results = race(db, |db, i| {
        // The same address in different casings.
        let email = if i % 2 == 0 {
            "Same@Example.com"
        } else {
            "same@example.COM"
        };
        db.create_user(&NewUser::user(
            &format!("mail{i}"),
            email,
            Some("hash".into()),
        ))
    });
    let created = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(DbError::EmailTaken)))
        .count();
    assert_eq!((created, taken), (1, THREADS - 1), "results: {results:?}");
    // A change of address is held to the same rule.
    let other = user(db, "other");
    let change = UserChanges {
        email: Some("SAME@example.com".into()),
        ..UserChanges::default()
    };
    assert!(matches!(
        db.update_user(other.id, &change),
        Err(DbError::EmailTaken)
    ));
    // Organisations carry no address of their own and are not held to it.
    let org = NewUser::org("org-a", packages_core::Visibility::Public);
    let org_b = NewUser::org("org-b", packages_core::Visibility::Public);
    db.create_org(&org, other.id).unwrap();
    db.create_org(&org_b, other.id).unwrap();
}

fn the_last_two_admins_cannot_both_step_down(db: &Database) {
    for round in 0..5 {
        let admins: Vec<i64> = (0..2)
            .map(|i| {
                let mut new = NewUser::user(
                    &format!("admin{round}x{i}"),
                    &format!("admin{round}x{i}@example.com"),
                    Some("hash".into()),
                );
                new.is_admin = true;
                db.create_user(&new).unwrap().id
            })
            .collect();
        // Only these two are admins: earlier rounds left one each, remove those first.
        for other in db.list_users(None).unwrap() {
            if other.is_admin && !admins.contains(&other.id) {
                db.delete_user(other.id).unwrap();
            }
        }
        let ids = Arc::new(admins);
        let results = race(db, move |db, i| {
            let demote = UserChanges {
                is_admin: Some(false),
                ..UserChanges::default()
            };
            db.update_user(ids[i % 2], &demote).map(|_| ())
        });
        assert_eq!(db.count_admins().unwrap(), 1, "round {round}: {results:?}");
        assert!(results.iter().any(|r| matches!(r, Err(DbError::LastAdmin))));
    }
}

/// Races `THREADS` uploads of version `<prefix>.<i>` of `name` under `limits`; returns how
/// many passed and how many were refused with `refusal`.
fn limited_race(
    db: &Database,
    owner: i64,
    prefix: &'static str,
    limits: UploadLimits,
    refusal: fn(&DbError) -> bool,
) -> (usize, usize) {
    let results = race(db, move |db, i| {
        let content = format!("{i:010}");
        let mut up = upload(
            owner,
            prefix,
            &format!("{prefix}.{i}"),
            "f.bin",
            content.as_bytes(),
        );
        up.limits = limits;
        db.add_file(&up)
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| r.as_ref().is_err_and(refusal))
        .count();
    (ok, refused)
}

/// Twenty uploads that together exceed the owner's limits, all at once: exactly as many pass
/// as the limits allow.
fn concurrent_uploads_respect_the_owner_limits(db: &Database) {
    let owner = user(db, "quota").id;
    // Ten bytes per file, room for five.
    let size = UploadLimits {
        total_owner_size: Limit::AtMost(55),
        ..UploadLimits::default()
    };
    let outcome = limited_race(db, owner, "1", size, |e| matches!(e, DbError::SizeLimit));
    assert_eq!(outcome, (5, THREADS - 5));
    assert_eq!(db.owner_usage(owner).unwrap(), (5, 50));
    // Room for three more versions.
    let count = UploadLimits {
        total_owner_count: Limit::AtMost(8),
        ..UploadLimits::default()
    };
    let outcome = limited_race(db, owner, "2", count, |e| matches!(e, DbError::CountLimit));
    assert_eq!(outcome, (3, THREADS - 3));
    assert_eq!(db.owner_usage(owner).unwrap().0, 8);
}

/// While one pool (standing for one process) runs a job, another pool on the same database
/// skips it; afterwards it runs again. SQLite has one process per file and always runs it.
fn exclusive_jobs_run_in_one_process_at_a_time(db: &Database) {
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = db.clone();
    let running = std::thread::spawn(move || {
        holder
            .run_exclusive(Job::Sweep, || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                "first"
            })
            .unwrap()
    });
    started_rx.recv().unwrap();
    let other = db.run_exclusive(Job::Sweep, || "second").unwrap();
    let expected = match db.backend() {
        Backend::Postgres => None,
        Backend::Sqlite => Some("second"),
    };
    assert_eq!(other, expected);
    release_tx.send(()).unwrap();
    assert_eq!(running.join().unwrap(), Some("first"));
    assert_eq!(
        db.run_exclusive(Job::Sweep, || "third").unwrap(),
        Some("third")
    );
}

//! The sweep: deletes remove rows only; content goes once nothing refers to it and the grace
//! period has passed, and version-less packages go with it.

use std::time::Duration;

use forge_e2e::{files_under, Backend, TestServer};
use forge_server::sweep::{run_once, SweepReport};
use packages_storage::LocalBlobStore;

use crate::common::*;

const HOUR: Duration = Duration::from_secs(3600);

fn sweep(s: &TestServer, grace: Duration) -> SweepReport {
    let store = LocalBlobStore::open(s.packages_dir()).expect("open the blob store");
    run_once(s.db(), &store, grace).expect("sweep")
}

fn blob_files(s: &TestServer) -> usize {
    files_under(&s.packages_dir())
        .iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() == 64)
        })
        .count()
}

fn content_goes_only_when_unreferenced_and_old(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let other = "/api/packages/user2/generic/other/1/copy.bin";
    status(&s.put(&uf(FILE), CONTENT, &user2()), 201);
    status(&s.put(other, CONTENT, &user2()), 201);
    assert_eq!(blob_files(&s), 1);

    // Deleting one reference keeps the content: the other file still uses it.
    status(&s.delete(&u(), &user2()), 204);
    let first = sweep(&s, Duration::ZERO);
    assert_eq!(first.blobs_removed, 0, "{first:?}");
    assert_eq!(first.empty_packages_removed, 1, "{first:?}");
    assert_eq!(blob_files(&s), 1);
    status(&s.get(other, &forge_e2e::ANON), 200);

    // Deleting the last reference removes rows only.
    status(&s.delete(other, &user2()), 204);
    assert_eq!(blob_files(&s), 1);
    assert_eq!(s.blob_count(), 1);

    // Within the grace period the sweep keeps it.
    let young = sweep(&s, HOUR);
    assert_eq!(young.blobs_removed, 0, "{young:?}");
    assert_eq!(blob_files(&s), 1);

    let report = sweep(&s, Duration::ZERO);
    assert_eq!(report.blobs_removed, 1, "{report:?}");
    assert_eq!(blob_files(&s), 0);
    assert_eq!(s.blob_count(), 0);
}

fn package_casing_resets_after_the_sweep(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let first = "/api/packages/user2/generic/MyPkg/1/a.bin";
    let second = "/api/packages/user2/generic/mypkg/2/a.bin";
    status(&s.put(first, CONTENT, &user2()), 201);
    status(&s.delete(first, &user2()), 204);
    // Until the sweep, the version-less package row keeps the first casing.
    status(&s.put(second, CONTENT, &user2()), 201);
    assert_eq!(s.stored_versions(OWNER)[0].package_name, "MyPkg");
    status(&s.delete(second, &user2()), 204);

    sweep(&s, Duration::ZERO);
    status(&s.put(second, CONTENT, &user2()), 201);
    assert_eq!(s.stored_versions(OWNER)[0].package_name, "mypkg");
}

fn content_without_rows_is_removed_after_the_grace_period(backend: Backend) {
    let s = TestServer::start(backend);
    let store = LocalBlobStore::open(s.packages_dir()).expect("open the blob store");
    let sha = forge_e2e::sha256_hex(b"orphan");
    let path = store.path_of(&sha).expect("valid key");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, b"orphan").expect("write orphan content");

    assert_eq!(sweep(&s, HOUR).orphan_files_removed, 0);
    assert!(path.exists());
    assert_eq!(sweep(&s, Duration::ZERO).orphan_files_removed, 1);
    assert!(!path.exists());
}

forge_e2e::backends!(
    content_goes_only_when_unreferenced_and_old,
    package_casing_resets_after_the_sweep,
    content_without_rows_is_removed_after_the_grace_period,
);

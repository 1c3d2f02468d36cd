//! Racing uploads never produce a server error.

use std::sync::Barrier;

use forge_e2e::{Backend, TestServer, ANON};

use crate::common::*;

const CLIENTS: usize = 20;

/// Runs `CLIENTS` uploads at once, released together, and returns their status codes.
fn race(s: &TestServer, path_of: impl Fn(usize) -> String + Sync) -> Vec<u16> {
    let barrier = Barrier::new(CLIENTS);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let barrier = &barrier;
                let path_of = &path_of;
                scope.spawn(move || {
                    let path = path_of(i);
                    barrier.wait();
                    s.put(&path, CONTENT, &user2()).status
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("upload thread panicked"))
            .collect()
    })
}

fn same_new_file_once(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let statuses = race(&s, |_| uf(FILE));
    let created = statuses.iter().filter(|&&c| c == 201).count();
    let conflicts = statuses.iter().filter(|&&c| c == 409).count();
    assert_eq!(
        (created, conflicts),
        (1, CLIENTS - 1),
        "expected one 201 and the rest 409, got {statuses:?}"
    );
    assert_eq!(s.stored_versions(OWNER).len(), 1);
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), 1);
    assert_eq!(s.blob_count(), 1);
    assert_eq!(s.get(&uf(FILE), &ANON).body, CONTENT);
}

fn different_files_into_one_new_version(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let statuses = race(&s, |i| uf(&format!("file-{i}.bin")));
    assert!(
        statuses.iter().all(|&c| c == 201),
        "every upload should succeed, got {statuses:?}"
    );
    let versions = s.stored_versions(OWNER);
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), CLIENTS);
    // All twenty share the one blob.
    assert_eq!(s.blob_count(), 1);
}

forge_e2e::backends!(same_new_file_once, different_files_into_one_new_version);
forge_e2e::s3_backend!(same_new_file_once, different_files_into_one_new_version);

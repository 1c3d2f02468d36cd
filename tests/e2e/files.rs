//! Versions holding several files, duplicate detection, and deletes.

use forge_e2e::{file_path, version_path, Backend, TestServer, ANON};

use crate::common::*;

fn several_files_per_version(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let files: [(&str, &[u8]); 3] = [("a.bin", b"aaa"), ("b.txt", b"bbbb"), ("c", b"")];
    for (name, body) in files {
        status(&s.put(&uf(name), body, &user2()), 201);
    }
    for (name, body) in files {
        let r = s.get(&uf(name), &ANON);
        status(&r, 200);
        assert_eq!(r.body, body, "{name}");
    }
    let mut stored: Vec<(String, i64)> = s
        .stored_package_files(OWNER, NAME, VERSION)
        .into_iter()
        .map(|f| (f.name, f.size))
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        [
            ("a.bin".to_owned(), 3),
            ("b.txt".to_owned(), 4),
            ("c".to_owned(), 0)
        ]
    );
    assert_eq!(s.stored_versions(OWNER).len(), 1);
}

fn duplicates_ignore_case(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    status(&s.put(&uf("File.bin"), b"first", &user2()), 201);
    status_text(
        &s.put(&uf("file.BIN"), b"second", &user2()),
        409,
        "package file already exists",
    );
    // Also when the package name and version are spelled differently.
    let other_case = file_path(
        OWNER,
        &NAME.to_uppercase(),
        &VERSION.to_uppercase(),
        "FILE.BIN",
    );
    status_text(
        &s.put(&other_case, b"third", &user2()),
        409,
        "package file already exists",
    );
    let files = s.stored_package_files(OWNER, NAME, VERSION);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name, "File.bin");
    assert_eq!(s.get(&uf("file.bin"), &ANON).body, b"first");
}

/// Later uploads in another case land in the first package and version and keep their names.
fn first_spelling_is_kept(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    status(
        &s.put(&file_path(OWNER, "MyPkg", "1.0-RC", "a"), b"a", &user2()),
        201,
    );
    status(
        &s.put(&file_path(OWNER, "mypkg", "1.0-rc", "b"), b"b", &user2()),
        201,
    );
    let versions = s.stored_versions(OWNER);
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].package_name, "MyPkg");
    assert_eq!(versions[0].version, "1.0-RC");
    assert_eq!(s.stored_package_files(OWNER, "MyPkg", "1.0-RC").len(), 2);
}

fn delete_version(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    for name in ["a", "b", "c"] {
        status(&s.put(&uf(name), name.as_bytes(), &user2()), 201);
    }
    status(
        &s.put(&file_path(OWNER, NAME, "2.0", "a"), b"a", &user2()),
        201,
    );
    // Case-insensitive like every lookup.
    let r = s.delete(
        &version_path(OWNER, &NAME.to_uppercase(), &VERSION.to_uppercase()),
        &user2(),
    );
    status(&r, 204);
    let versions = s.stored_versions(OWNER);
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].version, "2.0");
    for name in ["a", "b", "c"] {
        status_text(&s.get(&uf(name), &ANON), 404, "package does not exist");
    }
    status_text(&s.delete(&u(), &user2()), 404, "package does not exist");
    status_text(
        &s.delete(&version_path(OWNER, "never-existed", "1"), &user2()),
        404,
        "package does not exist",
    );
    // The other version is untouched.
    assert_eq!(s.get(&file_path(OWNER, NAME, "2.0", "a"), &ANON).body, b"a");
    // The same name and version can be uploaded again.
    status(&s.put(&uf("a"), b"again", &user2()), 201);
    assert_eq!(s.get(&uf("a"), &ANON).body, b"again");
}

fn delete_file(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    status(&s.put(&uf("Keep.bin"), b"k", &user2()), 201);
    status(&s.put(&uf("Drop.bin"), b"d", &user2()), 201);

    status(&s.delete(&uf("drop.BIN"), &user2()), 204);
    status_text(
        &s.get(&uf("Drop.bin"), &ANON),
        404,
        "package file does not exist",
    );
    status_text(
        &s.delete(&uf("Drop.bin"), &user2()),
        404,
        "package file does not exist",
    );
    status_text(
        &s.delete(&file_path(OWNER, NAME, "9.9", "Keep.bin"), &user2()),
        404,
        "package does not exist",
    );
    let files = s.stored_package_files(OWNER, NAME, VERSION);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].name, "Keep.bin");

    // Deleting the last file removes the version.
    status(&s.delete(&uf("Keep.bin"), &user2()), 204);
    assert!(s.stored_versions(OWNER).is_empty());
    status_text(&s.delete(&u(), &user2()), 404, "package does not exist");
    // A deleted name can be uploaded again.
    status(&s.put(&uf("Drop.bin"), b"new", &user2()), 201);
    assert_eq!(s.get(&uf("drop.bin"), &ANON).body, b"new");
}

forge_e2e::backends!(
    several_files_per_version,
    duplicates_ignore_case,
    first_spelling_is_kept,
    delete_version,
    delete_file,
);

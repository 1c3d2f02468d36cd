//! Forgejo's TestPackageGeneric, scenarios 5–18 and 20–30 (19 needs object storage).

use forge_e2e::{Backend, TestServer, ANON};

use crate::common::*;

fn upload(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);

    // 5
    upload_reference_file(&s);

    // 6: one version, stored with the exact casing and spacing given, without metadata.
    let versions = s.stored_versions(OWNER);
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].package_name, NAME);
    assert_eq!(versions[0].version, VERSION);
    // Forgejo stores a JSON `null`; an absent value means the same.
    assert!(
        versions[0]
            .metadata_json
            .as_deref()
            .is_none_or(|m| m == "null"),
        "metadata should be null: {:?}",
        versions[0].metadata_json
    );

    // 7: one lead file of three bytes.
    let files = s.stored_package_files(OWNER, NAME, VERSION);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].name, FILE);
    assert!(files[0].is_lead);
    assert_eq!(files[0].size, 3);
    assert_eq!(files[0].sha256, CONTENT_SHA256);

    // 8: no overwrite.
    status_text(
        &s.put(&uf(FILE), CONTENT, &user2()),
        409,
        "package file already exists",
    );

    // 9
    status(&s.put(&uf("dummy.bin"), CONTENT, &user2()), 201);

    // 10: both files point at one blob.
    let files = s.stored_package_files(OWNER, NAME, VERSION);
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0].blob_id, files[1].blob_id, "{files:?}");
    assert_eq!(s.blob_count(), 1);

    // 11
    status_text(
        &s.put(
            "/api/packages/user2/generic/invalid%20package%20name/1.0.3-te%20st/fi-le_na.me",
            CONTENT,
            &user2(),
        ),
        400,
        "invalid package name",
    );

    // 12
    status_text(
        &s.put(
            "/api/packages/user2/generic/te-st_pac.kage/%20test%20/fi-le_na.me",
            CONTENT,
            &user2(),
        ),
        400,
        "invalid package version",
    );

    // 13
    status_text(
        &s.put(&format!("{}/inva%7Cid.name", u()), CONTENT, &user2()),
        400,
        "invalid filename",
    );

    // Nothing of the rejected uploads was stored.
    assert_eq!(s.stored_versions(OWNER).len(), 1);
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), 2);
}

fn download(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    upload_reference_file(&s);
    status(&s.put(&uf("dummy.bin"), CONTENT, &user2()), 201);

    // 14
    assert_eq!(s.download_count(OWNER, NAME, VERSION), 0);

    // 15
    let r = s.get(&uf(FILE), &ANON);
    status(&r, 200);
    assert_eq!(r.body, CONTENT);
    assert_eq!(s.download_count(OWNER, NAME, VERSION), 1);

    // 16
    let r = s.get(&uf("dummy.bin"), &ANON);
    status(&r, 200);
    assert_eq!(r.body, CONTENT);
    assert_eq!(s.download_count(OWNER, NAME, VERSION), 2);

    // 17
    status_text(
        &s.get(&uf("not.found"), &ANON),
        404,
        "package file does not exist",
    );
    assert_eq!(s.download_count(OWNER, NAME, VERSION), 2);
}

fn require_signin_view(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.auth.require_signin_view = true);
    with_user2(&s);
    upload_reference_file(&s);
    status(&s.put(&uf("dummy.bin"), CONTENT, &user2()), 201);

    // 18
    unauthorized(&s.get(&uf("dummy.bin"), &ANON));
    assert_eq!(s.download_count(OWNER, NAME, VERSION), 0);
    // Signed-in users still read.
    let r = s.get(&uf("dummy.bin"), &user2());
    status(&r, 200);
    assert_eq!(r.body, CONTENT);
}

fn delete_file(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    upload_reference_file(&s);
    status(&s.put(&uf("dummy.bin"), CONTENT, &user2()), 201);

    // 20
    unauthorized(&s.delete(&uf(FILE), &ANON));
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), 2);

    // 21
    let r = s.delete(&uf(FILE), &user2());
    status(&r, 204);
    assert!(r.body.is_empty(), "{}", r.describe());

    // 22
    status_text(&s.get(&uf(FILE), &ANON), 404, "package file does not exist");

    // 23
    status_text(
        &s.delete(&uf(FILE), &user2()),
        404,
        "package file does not exist",
    );

    // 24
    assert_eq!(s.stored_versions(OWNER).len(), 1);
    let files = s.stored_package_files(OWNER, NAME, VERSION);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].name, "dummy.bin");

    // 25: the last file takes the version with it.
    status(&s.delete(&uf("dummy.bin"), &user2()), 204);
    assert_eq!(s.stored_versions(OWNER).len(), 0);
    status_text(
        &s.get(&uf("dummy.bin"), &ANON),
        404,
        "package does not exist",
    );
}

fn delete_version(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);

    // 26
    upload_reference_file(&s);
    status(&s.put(&uf("second.bin"), b"second", &user2()), 201);

    // 27
    unauthorized(&s.delete(&u(), &ANON));
    assert_eq!(s.stored_versions(OWNER).len(), 1);

    // 28
    let r = s.delete(&u(), &user2());
    status(&r, 204);
    assert!(r.body.is_empty(), "{}", r.describe());
    assert_eq!(s.stored_versions(OWNER).len(), 0);

    // 29
    status_text(&s.get(&uf(FILE), &ANON), 404, "package does not exist");

    // 30
    status_text(&s.delete(&u(), &user2()), 404, "package does not exist");
}

forge_e2e::backends!(
    upload,
    download,
    require_signin_view,
    delete_file,
    delete_version
);
forge_e2e::s3_backend!(upload, download, delete_file, delete_version);

//! Who may upload and download in whose namespace (reference §16.3, TestPackageAccess): the
//! reference fixture of users and organisations of every visibility, with the upload and
//! download matrices as tables, one cell per doer × owner.

use forge_e2e::{
    file_path, AccessMode, Auth, Backend, Resp, TestServer, UserChanges, Visibility, ANON, PASSWORD,
};

use crate::common::*;

/// The owners of the reference fixture, in the column order of the matrices.
pub const OWNERS: [&str; 11] = [
    "user1",
    "user9",
    "user5",
    "user33",
    "user31",
    "privated_org",
    "limited_org36",
    "org25",
    "private_org35",
    "limited_org",
    "org17",
];

/// Who sends a request in a matrix row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doer {
    /// user1, a site admin.
    Admin,
    Anonymous,
    /// user9, whose account is inactive.
    Inactive,
    /// user5, a plain user with memberships in some of the organisations.
    User5,
}

impl Doer {
    /// The name used in file names and failure messages.
    pub fn label(self) -> &'static str {
        match self {
            Doer::Admin => "admin",
            Doer::Anonymous => "anonymous",
            Doer::Inactive => "user9",
            Doer::User5 => "user5",
        }
    }

    /// Basic credentials with the doer's password, or none.
    pub fn auth(self) -> Auth {
        match self {
            Doer::Admin => Auth::basic("user1", PASSWORD),
            Doer::Anonymous => ANON,
            Doer::Inactive => Auth::basic("user9", PASSWORD),
            Doer::User5 => Auth::basic("user5", PASSWORD),
        }
    }
}

/// Scenarios 49–92: PUT `<doer>.bin` into each owner's `test-package/1.0`.
const UPLOADS: [(Doer, [u16; 11]); 4] = [
    (Doer::Admin, [201; 11]),
    (Doer::Anonymous, [401; 11]),
    (Doer::Inactive, [401; 11]),
    (
        Doer::User5,
        [401, 401, 201, 401, 401, 201, 201, 401, 401, 401, 401],
    ),
];

/// Scenarios 93–136: GET the admin's `admin.bin` from each owner.
const DOWNLOADS: [(Doer, [u16; 11]); 4] = [
    (Doer::Admin, [200; 11]),
    (
        Doer::Anonymous,
        [200, 200, 200, 401, 401, 401, 401, 200, 401, 401, 200],
    ),
    (Doer::Inactive, [401; 11]),
    (
        Doer::User5,
        [200, 200, 200, 200, 401, 200, 200, 200, 401, 200, 200],
    ),
];

/// The one byte every matrix upload carries.
const BYTE: &[u8] = b"x";

/// Builds the reference owners: user1 (admin), user9 (inactive), user5, user33 (limited),
/// user31 (private), and the organisations with user5 a package writer in privated_org and
/// limited_org36, a package reader in org25, and no member of private_org35, limited_org and
/// org17. The organisations are created by user2, who appears in no matrix.
pub fn create_fixture(s: &TestServer) {
    s.create_user("user1", PASSWORD, true);
    s.create_user("user2", PASSWORD, false);
    s.create_user("user5", PASSWORD, false);
    s.create_user("user9", PASSWORD, false);
    s.update_user(
        "user9",
        &UserChanges {
            is_active: Some(false),
            ..UserChanges::default()
        },
    );
    s.create_user_with_visibility("user33", PASSWORD, Visibility::Limited);
    s.create_user_with_visibility("user31", PASSWORD, Visibility::Private);

    for (org, visibility) in [
        ("privated_org", Visibility::Private),
        ("limited_org36", Visibility::Limited),
        ("org25", Visibility::Public),
        ("private_org35", Visibility::Private),
        ("limited_org", Visibility::Limited),
        ("org17", Visibility::Public),
    ] {
        s.create_org(org, visibility, "user2");
    }
    // Write through the team's overall level in one organisation, through the packages unit
    // alone in the other.
    s.create_team(
        "privated_org",
        "writers",
        AccessMode::Write,
        AccessMode::Write,
        &["user5"],
    );
    s.create_team(
        "limited_org36",
        "packagers",
        AccessMode::Read,
        AccessMode::Write,
        &["user5"],
    );
    s.create_team(
        "org25",
        "readers",
        AccessMode::Read,
        AccessMode::Read,
        &["user5"],
    );
}

/// The file `<file>` in `<owner>/generic/test-package/1.0`.
pub fn matrix_path(owner: &str, file: &str) -> String {
    file_path(owner, "test-package", "1.0", file)
}

/// Uploads `admin.bin` to every owner as the admin (the download fixture).
pub fn admin_uploads_everywhere(s: &TestServer) {
    for owner in OWNERS {
        let r = s.put(&matrix_path(owner, "admin.bin"), BYTE, &Doer::Admin.auth());
        assert_eq!(r.status, 201, "admin upload to {owner}: {}", r.describe());
    }
}

/// What is wrong with `r` for an expected status, if anything. Every 401 must challenge for
/// Basic credentials (a deliberate difference from Forgejo).
pub fn cell_error(r: &Resp, expected: u16) -> Option<String> {
    if r.status != expected {
        return Some(format!(
            "expected {expected}, got {} {:?}",
            r.status,
            r.text()
        ));
    }
    if expected == 401
        && !r
            .header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic realm=\""))
    {
        return Some(format!(
            "401 without a Basic WWW-Authenticate challenge: {:?}",
            r.headers
        ));
    }
    None
}

/// Fails with every differing cell listed.
#[track_caller]
pub fn assert_no_failures(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} {what} cell(s) differ from the reference:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs one matrix row of uploads with `auth`, each of the file `file`; returns the failing
/// cells as `label × owner: …`.
fn upload_row(
    s: &TestServer,
    label: &str,
    auth: &Auth,
    file: &str,
    expected: &[u16; 11],
) -> Vec<String> {
    let mut failures = Vec::new();
    for (owner, &want) in OWNERS.iter().zip(expected) {
        let r = s.put(&matrix_path(owner, file), BYTE, auth);
        if let Some(e) = cell_error(&r, want) {
            failures.push(format!("PUT {label} × {owner}: {e}"));
            continue;
        }
        let stored = s
            .stored_package_files(owner, "test-package", "1.0")
            .iter()
            .any(|f| f.name == file);
        if stored != (want == 201) {
            failures.push(format!(
                "PUT {label} × {owner}: answered {want} but {file} is {}stored",
                if stored { "" } else { "not " }
            ));
        }
    }
    failures
}

/// Runs one matrix row of downloads of `admin.bin` with `auth`.
fn download_row(s: &TestServer, label: &str, auth: &Auth, expected: &[u16; 11]) -> Vec<String> {
    let mut failures = Vec::new();
    for (owner, &want) in OWNERS.iter().zip(expected) {
        let r = s.get(&matrix_path(owner, "admin.bin"), auth);
        if let Some(e) = cell_error(&r, want) {
            failures.push(format!("GET {label} × {owner}: {e}"));
        } else if want == 200 && r.body != BYTE {
            failures.push(format!("GET {label} × {owner}: body {:?}", r.body));
        }
    }
    failures
}

fn upload_matrix(backend: Backend) {
    let s = TestServer::start(backend);
    create_fixture(&s);
    let mut failures = Vec::new();
    for (doer, expected) in &UPLOADS {
        let file = format!("{}.bin", doer.label());
        failures.extend(upload_row(&s, doer.label(), &doer.auth(), &file, expected));
    }
    assert_no_failures("upload", &failures);
}

fn download_matrix(backend: Backend) {
    let s = TestServer::start(backend);
    create_fixture(&s);
    admin_uploads_everywhere(&s);
    let mut failures = Vec::new();
    for (doer, expected) in &DOWNLOADS {
        failures.extend(download_row(&s, doer.label(), &doer.auth(), expected));
    }
    assert_no_failures("download", &failures);
    // Only the successful downloads were counted.
    for (column, owner) in OWNERS.iter().enumerate() {
        let served = DOWNLOADS
            .iter()
            .filter(|(_, row)| row[column] == 200)
            .count() as i64;
        assert_eq!(
            s.download_count(owner, "test-package", "1.0"),
            served,
            "download count of {owner}"
        );
    }
}

/// A token reaches no further than its user's password, and only as far as its scopes allow.
fn token_scopes_on_the_fixture(backend: Backend) {
    let s = TestServer::start(backend);
    create_fixture(&s);
    admin_uploads_everywhere(&s);

    // A write:package token behaves exactly like user5's password.
    let write = Auth::token(&s.token("user5", "w", "write:package"));
    let (_, uploads) = UPLOADS[3];
    let (_, downloads) = DOWNLOADS[3];
    let mut failures = upload_row(&s, "user5 write:package", &write, "w.bin", &uploads);
    failures.extend(download_row(&s, "user5 write:package", &write, &downloads));

    // read:package reads what user5 may read and writes nothing, not even where user5 is a
    // package writer.
    let read = Auth::token(&s.token("user5", "r", "read:package"));
    failures.extend(upload_row(
        &s,
        "user5 read:package",
        &read,
        "r.bin",
        &[401; 11],
    ));
    failures.extend(download_row(&s, "user5 read:package", &read, &downloads));
    assert_no_failures("token", &failures);

    // public-only keeps out of private owners with a 403, whatever user5's membership; the
    // scope check comes before the permission check. Limited and public owners stay open.
    let public_only = Auth::token(&s.token("user5", "p", "public-only,write:package"));
    for owner in ["privated_org", "private_org35", "user31"] {
        let r = s.put(&matrix_path(owner, "p.bin"), BYTE, &public_only);
        assert_eq!(
            r.status,
            403,
            "public-only PUT to {owner}: {}",
            r.describe()
        );
        let r = s.get(&matrix_path(owner, "admin.bin"), &public_only);
        assert_eq!(
            r.status,
            403,
            "public-only GET from {owner}: {}",
            r.describe()
        );
    }
    for owner in ["limited_org36", "user5"] {
        let r = s.put(&matrix_path(owner, "p.bin"), BYTE, &public_only);
        assert_eq!(
            r.status,
            201,
            "public-only PUT to {owner}: {}",
            r.describe()
        );
    }
    for owner in ["limited_org36", "limited_org", "user33", "org25"] {
        let r = s.get(&matrix_path(owner, "admin.bin"), &public_only);
        assert_eq!(
            r.status,
            200,
            "public-only GET from {owner}: {}",
            r.describe()
        );
    }
    // Permission still applies under public-only: org25 is read-only for user5.
    unauthorized(&s.put(&matrix_path("org25", "p.bin"), BYTE, &public_only));
    assert!(s
        .stored_package_files("privated_org", "test-package", "1.0")
        .iter()
        .all(|f| f.name != "p.bin"));
}

/// With sign-in required for viewing, anonymous reads fail everywhere; signed-in readers keep
/// exactly the access the download matrix gives them.
fn require_signin_view_on_the_fixture(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.auth.require_signin_view = true);
    create_fixture(&s);
    admin_uploads_everywhere(&s);
    let mut failures = download_row(&s, "anonymous", &ANON, &[401; 11]);
    for (doer, expected) in &DOWNLOADS {
        if *doer != Doer::Anonymous {
            failures.extend(download_row(&s, doer.label(), &doer.auth(), expected));
        }
    }
    assert_no_failures("require-signin-view download", &failures);
    for owner in OWNERS {
        assert_eq!(
            s.download_count(owner, "test-package", "1.0"),
            if ["user31", "private_org35"].contains(&owner) {
                1
            } else {
                2
            },
            "download count of {owner}"
        );
    }
}

forge_e2e::backends!(
    upload_matrix,
    download_matrix,
    token_scopes_on_the_fixture,
    require_signin_view_on_the_fixture,
);

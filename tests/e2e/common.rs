//! Fixtures and assertions shared by the scenarios.

use forge_e2e::{Auth, RawResponse, Resp, TestServer, PASSWORD};

/// The package of Forgejo's TestPackageGeneric: owner, name, version (with a space, so it is
/// `%20` on the wire), file name and content.
pub const OWNER: &str = "user2";
pub const NAME: &str = "te-st_pac.kage";
pub const VERSION: &str = "1.0.3-te st";
pub const FILE: &str = "fi-le_na.me";
pub const CONTENT: &[u8] = &[1, 2, 3];
/// SHA-256 of [`CONTENT`].
pub const CONTENT_SHA256: &str = "039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81";

/// The version URL of the reference package.
pub fn u() -> String {
    "/api/packages/user2/generic/te-st_pac.kage/1.0.3-te%20st".to_owned()
}

/// A file URL of the reference package.
pub fn uf(file: &str) -> String {
    format!("{}/{}", u(), forge_e2e::seg(file))
}

/// user2 with the shared password.
pub fn user2() -> Auth {
    Auth::basic(OWNER, PASSWORD)
}

/// Creates the owner user2 (not an admin).
pub fn with_user2(s: &TestServer) {
    s.create_user(OWNER, PASSWORD, false);
}

/// Asserts the status code, printing the whole response when it differs.
#[track_caller]
pub fn status(r: &Resp, expected: u16) {
    assert_eq!(r.status, expected, "unexpected response: {}", r.describe());
}

/// Asserts the status code and that the body, without surrounding whitespace, is `text`.
#[track_caller]
pub fn status_text(r: &Resp, expected: u16, text: &str) {
    status(r, expected);
    assert_eq!(r.text().trim(), text, "body of {}", r.describe());
}

/// Asserts a 401 that tells the client to send Basic credentials.
#[track_caller]
pub fn unauthorized(r: &Resp) {
    status(r, 401);
    let challenge = r.header("www-authenticate").unwrap_or_else(|| {
        panic!("401 without WWW-Authenticate: {}", r.describe());
    });
    assert!(
        challenge.starts_with("Basic realm=\""),
        "WWW-Authenticate should be a Basic challenge with a realm, got {challenge:?}"
    );
}

/// The raw-socket counterpart of [`status`].
#[track_caller]
pub fn raw_status(r: &RawResponse, expected: u16) {
    assert_eq!(
        r.status,
        expected,
        "unexpected response: {:?} {:?}",
        r.headers,
        r.text()
    );
}

/// Scenario 5: user2 uploads `fi-le_na.me`.
pub fn upload_reference_file(s: &TestServer) {
    status(&s.put(&uf(FILE), CONTENT, &user2()), 201);
}

/// Runs `forge-server admin <args>` against the test server's data directory and database;
/// answers whether it succeeded, and its standard output and error.
pub fn admin(s: &TestServer, args: &[&str]) -> (bool, String, String) {
    let mut cmd = std::process::Command::new(forge_e2e::server_binary());
    cmd.arg("admin")
        .args(args)
        .env("FORGE_DATA_DIR", &s.config().server.data_dir);
    let url = s.config().database.url.expose();
    if url.is_empty() {
        cmd.env_remove("FORGE_DATABASE_URL");
    } else {
        cmd.env("FORGE_DATABASE_URL", url);
    }
    let out = cmd.output().expect("run forge-server admin");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

//! The server keeps owners, tokens, memberships and file look-ups in memory; every change
//! made through the server must be seen by the very next request.

use forge_e2e::{file_path, Auth, Backend, TestServer, ANON, PASSWORD};
use packages_core::{AccessMode, Visibility};

use crate::common::*;

fn json_request(s: &TestServer, method: &str, path: &str, auth: &Auth, body: &str) -> u16 {
    s.request(
        method,
        path,
        auth,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
    .status
}

fn changes_are_seen_at_once(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("root", PASSWORD, true);
    s.create_user("dev", PASSWORD, false);
    let root = Auth::basic("root", PASSWORD);
    let dev = Auth::basic("dev", PASSWORD);
    let path = file_path("dev", "app", "1.0", "app.bin");
    status(&s.put(&path, b"app", &dev), 201);

    // Warm every cache, then make the owner private: anonymous readers lose access at once.
    for _ in 0..3 {
        status(&s.get(&path, &ANON), 200);
    }
    assert_eq!(
        json_request(
            &s,
            "PATCH",
            "/api/v1/admin/users/dev",
            &root,
            r#"{"visibility":"private"}"#
        ),
        200
    );
    unauthorized(&s.get(&path, &ANON));
    status(&s.get(&path, &dev), 200);

    // A deleted version is gone for the next request, cached look-up or not.
    status(
        &s.delete(&file_path("dev", "app", "1.0", "app.bin"), &dev),
        204,
    );
    status_text(&s.get(&path, &dev), 404, "package does not exist");

    // A deleted token stops working at once.
    let token = s.token("dev", "ci", "write:package");
    let with_token = Auth::token(&token);
    status(
        &s.put(&file_path("dev", "app", "2.0", "a"), b"a", &with_token),
        201,
    );
    status(
        &s.put(&file_path("dev", "app", "2.0", "b"), b"b", &with_token),
        201,
    );
    status(&s.delete("/api/v1/users/dev/tokens/ci", &dev), 204);
    unauthorized(&s.put(&file_path("dev", "app", "2.0", "c"), b"c", &with_token));

    // A deactivated account loses access at once, through the password it just used.
    assert_eq!(
        json_request(
            &s,
            "PATCH",
            "/api/v1/admin/users/dev",
            &root,
            r#"{"active":false}"#
        ),
        200
    );
    unauthorized(&s.get(&file_path("dev", "app", "2.0", "a"), &dev));
}

fn team_changes_are_seen_at_once(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("boss", PASSWORD, false);
    s.create_user("dev", PASSWORD, false);
    s.create_org("acme", Visibility::Private, "boss");
    let team = s.create_team(
        "acme",
        "builders",
        AccessMode::Write,
        AccessMode::Write,
        &["dev"],
    );
    let dev = Auth::basic("dev", PASSWORD);
    status(&s.put(&file_path("acme", "lib", "1", "a"), b"a", &dev), 201);
    status(&s.get(&file_path("acme", "lib", "1", "a"), &dev), 200);

    let boss = Auth::basic("boss", PASSWORD);
    status(
        &s.request(
            "DELETE",
            &format!("/api/v1/teams/{team}/members/dev"),
            &boss,
            &[],
            None,
        ),
        204,
    );
    unauthorized(&s.put(&file_path("acme", "lib", "1", "b"), b"b", &dev));
    unauthorized(&s.get(&file_path("acme", "lib", "1", "a"), &dev));
}

forge_e2e::backends!(changes_are_seen_at_once, team_changes_are_seen_at_once);

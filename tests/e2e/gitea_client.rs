//! What a Gitea API client does to set up publishing from CI, end to end: an admin creates a
//! user, an organisation and a team that may write packages; the user mints a token, publishes
//! into the organisation with it and finds the package in the listing. The same sequence is
//! written out with curl in docs/API-WALKTHROUGH.md.

use forge_e2e::{Auth, Backend, Resp, TestServer, PASSWORD};
use serde_json::{json, Value};

use crate::common::*;

/// Asserts the status and returns the JSON body.
#[track_caller]
fn created(r: &Resp, step: &str) -> Value {
    assert_eq!(r.status, 201, "{step}: {}", r.describe());
    r.json()
}

fn publish_through_an_organisation_team(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("root", PASSWORD, true);
    let admin = Auth::basic("root", PASSWORD);

    // The admin creates the user who will publish.
    let v = created(
        &s.post_json(
            "/api/v1/admin/users",
            &admin,
            &json!({
                "username": "alice",
                "email": "alice@example.com",
                "password": "correct horse",
                "must_change_password": false,
            }),
        ),
        "create user",
    );
    assert_eq!(v["login"], "alice", "{v}");
    assert!(v["id"].as_i64().is_some(), "{v}");
    let alice = Auth::basic("alice", "correct horse");
    // Only admins create users.
    let r = s.post_json(
        "/api/v1/admin/users",
        &alice,
        &json!({ "username": "mallory", "email": "m@example.com", "password": "x" }),
    );
    assert_eq!(r.status, 403, "a user creating users: {}", r.describe());

    // The admin creates the organisation, which the admin then owns.
    let v = created(
        &s.post_json(
            "/api/v1/orgs",
            &admin,
            &json!({ "username": "acme", "visibility": "public" }),
        ),
        "create organisation",
    );
    assert!(v["id"].as_i64().is_some(), "{v}");
    assert!(
        v["name"] == "acme" || v["username"] == "acme",
        "organisation name: {v}"
    );
    assert_eq!(v["visibility"], "public", "{v}");

    // Not a member yet: alice may read the public organisation's packages but not publish.
    unauthorized(&s.put(
        "/api/packages/acme/generic/app/1.0.0/app.bin",
        CONTENT,
        &alice,
    ));

    // A team that may write packages.
    let team = created(
        &s.post_json(
            "/api/v1/orgs/acme/teams",
            &admin,
            &json!({
                "name": "publishers",
                "permission": "write",
                "units": ["repo.packages"],
                "units_map": { "repo.packages": "write" },
            }),
        ),
        "create team",
    );
    let team_id = team["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("team without id: {team}"));
    assert_eq!(team["name"], "publishers", "{team}");
    assert_eq!(team["units_map"]["repo.packages"], "write", "{team}");

    status(
        &s.put(
            &format!("/api/v1/teams/{team_id}/members/alice"),
            b"",
            &admin,
        ),
        204,
    );

    // alice mints a token with her password and publishes with it.
    let token = created(
        &s.post_json(
            "/api/v1/users/alice/tokens",
            &alice,
            &json!({ "name": "ci", "scopes": ["write:package"] }),
        ),
        "create token",
    );
    let secret = token["sha1"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {token}"))
        .to_owned();
    let ci = Auth::token(&secret);
    status(
        &s.put("/api/packages/acme/generic/app/1.0.0/app.bin", CONTENT, &ci),
        201,
    );

    let r = s.get("/api/v1/packages/acme", &ci);
    status(&r, 200);
    let list = r.json();
    let entries = list
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"));
    assert_eq!(entries.len(), 1, "{list}");
    let p = &entries[0];
    assert_eq!(p["name"], "app", "{p}");
    assert_eq!(p["version"], "1.0.0", "{p}");
    assert_eq!(p["type"], "generic", "{p}");
    assert_eq!(p["owner"]["login"], "acme", "{p}");
    assert_eq!(p["creator"]["login"], "alice", "{p}");

    // And the file is there for anyone to download.
    let r = s.get(
        "/api/packages/acme/generic/app/1.0.0/app.bin",
        &forge_e2e::ANON,
    );
    status(&r, 200);
    assert_eq!(r.body, CONTENT);
}

forge_e2e::backends!(publish_through_an_organisation_team);

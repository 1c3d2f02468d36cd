//! The Gitea routes clients call to find their way (version, API settings, users,
//! organisations, members), over HTTP and through the `pyforgejo` SDK, whose pydantic models
//! reject a wrong shape.

use std::process::Command;

use forge_e2e::{file_path, Auth, Backend, Resp, TestServer, PASSWORD};
use packages_core::{AccessMode, Visibility};
use serde_json::{json, Value};

use crate::common::{status, unauthorized};

#[track_caller]
fn ok(r: &Resp) -> Value {
    assert_eq!(r.status, 200, "{}", r.describe());
    r.json()
}

fn logins(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|u| u[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// root (admin), alice (public) and bob (private); acme (public) and vault (private), both
/// owned by alice; bob is in acme's `devs` team.
fn setup(backend: Backend) -> (TestServer, i64, i64) {
    let s = TestServer::start(backend);
    s.create_user("root", PASSWORD, true);
    s.create_user("alice", PASSWORD, false);
    s.create_user_with_visibility("bob", PASSWORD, Visibility::Private);
    s.create_org("acme", Visibility::Public, "alice");
    s.create_org("vault", Visibility::Private, "alice");
    let devs = s.create_team("acme", "devs", AccessMode::Read, AccessMode::Read, &["bob"]);
    let owners = ok(&s.get("/api/v1/orgs/acme/teams", &Auth::basic("alice", PASSWORD)))
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "Owners").cloned())
        .and_then(|t| t["id"].as_i64())
        .expect("owners team");
    (s, owners, devs)
}

fn version_settings_and_users(backend: Backend) {
    let (s, _, _) = setup(backend);
    let anon = Auth::Anonymous;
    let alice = Auth::basic("alice", PASSWORD);
    let bob = Auth::basic("bob", PASSWORD);
    let root = Auth::basic("root", PASSWORD);

    let v = ok(&s.get("/api/v1/version", &anon));
    assert!(
        v["version"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.22.0+forge-packages-")),
        "{v}"
    );
    let v = ok(&s.get("/api/v1/settings/api", &anon));
    assert_eq!(
        (
            v["max_response_items"].as_u64(),
            v["default_paging_num"].as_u64()
        ),
        (Some(50), Some(30))
    );

    assert_eq!(ok(&s.get("/api/v1/users/alice", &anon))["login"], "alice");
    // A private user exists only for itself and site admins.
    assert_eq!(s.get("/api/v1/users/bob", &anon).status, 404);
    assert_eq!(s.get("/api/v1/users/bob", &alice).status, 404);
    assert_eq!(ok(&s.get("/api/v1/users/bob", &bob))["login"], "bob");
    assert_eq!(ok(&s.get("/api/v1/users/bob", &root))["login"], "bob");
    assert_eq!(s.get("/api/v1/users/nobody", &root).status, 404);

    let r = s.get("/api/v1/users/search?q=ALI", &anon);
    let v = ok(&r);
    assert_eq!(v["ok"], true);
    assert_eq!(logins(&v["data"], "login"), ["alice"]);
    assert_eq!(r.header("x-total-count"), Some("1"));
    // Paged as Gitea pages it: the total and a link to the next page.
    let r = s.get("/api/v1/users/search?limit=1", &root);
    assert_eq!(ok(&r)["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.header("x-total-count"), Some("3"));
    assert!(
        r.header("link")
            .is_some_and(|l| l.contains("page=2>; rel=\"next\"")),
        "{}",
        r.describe()
    );
    // Users only, and only those the caller may see.
    let v = ok(&s.get("/api/v1/users/search", &anon));
    assert_eq!(logins(&v["data"], "login"), ["alice", "root"]);
    let v = ok(&s.get("/api/v1/users/search", &bob));
    assert_eq!(logins(&v["data"], "login"), ["alice", "bob", "root"]);
    let id = s.user_id("alice").to_string();
    let v = ok(&s.get(&format!("/api/v1/users/search?uid={id}"), &anon));
    assert_eq!(logins(&v["data"], "login"), ["alice"]);

    assert_eq!(s.get("/api/v1/admin/users", &alice).status, 403);
    assert_eq!(s.get("/api/v1/admin/users", &anon).status, 401);
    let r = s.get("/api/v1/admin/users?limit=2", &root);
    assert_eq!(logins(&ok(&r), "login"), ["alice", "bob"]);
    assert_eq!(r.header("x-total-count"), Some("3"));
    assert!(
        r.header("link").is_some_and(|l| l.contains("rel=\"next\"")),
        "{}",
        r.describe()
    );
}

fn organisations_and_members(backend: Backend) {
    let (s, owners, devs) = setup(backend);
    let anon = Auth::Anonymous;
    let alice = Auth::basic("alice", PASSWORD);
    let bob = Auth::basic("bob", PASSWORD);
    let root = Auth::basic("root", PASSWORD);

    assert_eq!(s.get("/api/v1/user/orgs", &anon).status, 401);
    assert_eq!(
        logins(&ok(&s.get("/api/v1/user/orgs", &alice)), "name"),
        ["acme", "vault"]
    );
    assert_eq!(
        logins(&ok(&s.get("/api/v1/user/orgs", &bob)), "name"),
        ["acme"]
    );
    assert_eq!(
        logins(&ok(&s.get("/api/v1/users/alice/orgs", &anon)), "name"),
        ["acme"]
    );
    assert_eq!(
        logins(&ok(&s.get("/api/v1/users/alice/orgs", &alice)), "name"),
        ["acme", "vault"]
    );
    assert_eq!(s.get("/api/v1/users/bob/orgs", &anon).status, 404);

    assert_eq!(logins(&ok(&s.get("/api/v1/orgs", &anon)), "name"), ["acme"]);
    assert_eq!(
        logins(&ok(&s.get("/api/v1/orgs", &root)), "name"),
        ["acme", "vault"]
    );
    assert_eq!(s.get("/api/v1/admin/orgs", &alice).status, 403);
    let r = s.get("/api/v1/admin/orgs", &root);
    assert_eq!(logins(&ok(&r), "name"), ["acme", "vault"]);
    assert_eq!(r.header("x-total-count"), Some("2"));

    assert_eq!(
        logins(&ok(&s.get("/api/v1/orgs/acme/members", &alice)), "login"),
        ["alice", "bob"]
    );
    // Membership is not public: outsiders see nobody.
    s.create_user("carol", PASSWORD, false);
    assert_eq!(
        logins(
            &ok(&s.get("/api/v1/orgs/acme/members", &Auth::basic("carol", PASSWORD))),
            "login"
        ),
        Vec::<String>::new()
    );
    assert_eq!(s.get("/api/v1/orgs/vault/members", &bob).status, 404);

    assert_eq!(
        logins(
            &ok(&s.get(&format!("/api/v1/teams/{owners}/members"), &alice)),
            "login"
        ),
        ["alice"]
    );
    assert_eq!(
        logins(
            &ok(&s.get(&format!("/api/v1/teams/{devs}/members"), &bob)),
            "login"
        ),
        ["bob"]
    );
    assert_eq!(
        ok(&s.get(&format!("/api/v1/teams/{devs}/members/bob"), &alice))["login"],
        "bob"
    );
    assert_eq!(
        s.get(&format!("/api/v1/teams/{devs}/members/alice"), &alice)
            .status,
        404
    );
    assert_eq!(
        s.get(&format!("/api/v1/teams/{owners}/members"), &anon)
            .status,
        401
    );

    // Editing an organisation: owners only; absent fields stay.
    let edit = json!({"description": "Rockets", "visibility": "limited"});
    let r = s.request(
        "PATCH",
        "/api/v1/orgs/acme",
        &bob,
        &[("Content-Type", "application/json")],
        Some(edit.to_string().as_bytes()),
    );
    assert_eq!(r.status, 403, "{}", r.describe());
    let r = s.request(
        "PATCH",
        "/api/v1/orgs/acme",
        &alice,
        &[("Content-Type", "application/json")],
        Some(edit.to_string().as_bytes()),
    );
    let v = ok(&r);
    assert_eq!(
        (v["description"].as_str(), v["visibility"].as_str()),
        (Some("Rockets"), Some("limited"))
    );
    assert_eq!(v["name"], "acme");
    let r = s.request(
        "PATCH",
        "/api/v1/orgs/acme",
        &alice,
        &[],
        Some(br#"{"visibility":"secret"}"#),
    );
    assert_eq!(r.status, 422, "{}", r.describe());
    assert!(logins(&ok(&s.get("/api/v1/orgs", &anon)), "name").is_empty());
}

/// The same routes through pyforgejo (installed by scripts/test-env.sh).
fn the_forgejo_sdk_reads_them(backend: Backend) {
    let (s, _, devs) = setup(backend);
    let token = s.token("alice", "sdk", "all");
    let admin = s.token("root", "sdk", "all");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/pyforgejo_directory.py");
    let out = Command::new("python3")
        .arg(script)
        .env("FORGE_URL", format!("{}/api/v1", s.base))
        .env("FORGE_TOKEN", &token)
        .env("FORGE_ADMIN_TOKEN", &admin)
        .env("FORGE_TEAM_ID", devs.to_string())
        .output()
        .expect("python3 (scripts/test.sh puts the test environment on PATH)");
    assert!(
        out.status.success(),
        "pyforgejo run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn deleting_a_team(backend: Backend) {
    let (s, owners, devs) = setup(backend);
    let alice = Auth::basic("alice", PASSWORD);
    let bob = Auth::basic("bob", PASSWORD);
    assert_eq!(s.delete(&format!("/api/v1/teams/{devs}"), &bob).status, 403);
    let r = s.delete(&format!("/api/v1/teams/{owners}"), &alice);
    assert_eq!(r.status, 422, "{}", r.describe());
    let r = s.delete(&format!("/api/v1/teams/{devs}"), &alice);
    assert_eq!(r.status, 204, "{}", r.describe());
    assert_eq!(s.get(&format!("/api/v1/teams/{devs}"), &alice).status, 404);
    assert_eq!(
        s.delete(&format!("/api/v1/teams/{devs}"), &alice).status,
        404
    );
    // bob was in acme through that team only.
    assert!(logins(&ok(&s.get("/api/v1/user/orgs", &bob)), "name").is_empty());
    assert_eq!(
        logins(&ok(&s.get("/api/v1/orgs/acme/members", &alice)), "login"),
        ["alice"]
    );
}

/// PATCH with a JSON body.
fn patch(s: &TestServer, path: &str, auth: &Auth, body: Value) -> Resp {
    s.request(
        "PATCH",
        path,
        auth,
        &[("Content-Type", "application/json")],
        Some(body.to_string().as_bytes()),
    )
}

fn editing_a_team(backend: Backend) {
    let (s, owners, devs) = setup(backend);
    let alice = Auth::basic("alice", PASSWORD);
    let bob = Auth::basic("bob", PASSWORD);
    let team = format!("/api/v1/teams/{devs}");
    let file = |n: &str| file_path("acme", "app", "1.0", n);
    status(&s.put(&file("a.bin"), b"a", &alice), 201);

    // Only the organisation's owners edit; unknown teams are 404; bad fields 422 or 400.
    status(&patch(&s, &team, &bob, json!({"description": "x"})), 403);
    status(&patch(&s, "/api/v1/teams/999999", &alice, json!({})), 404);
    for bad in [
        json!({"permission": "owner"}),
        json!({"name": "not a name"}),
        json!({"name": "owners"}),
        json!({"description": "d".repeat(256)}),
    ] {
        let r = patch(&s, &team, &alice, bad.clone());
        assert_eq!(r.status, 422, "{bad}: {}", r.describe());
        assert!(r.json()["message"].as_str().is_some(), "{}", r.describe());
    }
    let r = s.request("PATCH", &team, &alice, &[], Some(b"{"));
    status(&r, 400);

    // bob reads (the caches are warm) but may not write; raising the team lets him at once.
    status(&s.get(&file("a.bin"), &bob), 200);
    unauthorized(&s.put(&file("b.bin"), b"b", &bob));
    let v = ok(&patch(
        &s,
        &team,
        &alice,
        json!({"permission": "write", "units_map": {"repo.packages": "write"},
               "description": "builders", "includes_all_repositories": false}),
    ));
    assert_eq!(
        (&v["id"], &v["name"], &v["description"], &v["permission"]),
        (
            &json!(devs),
            &json!("devs"),
            &json!("builders"),
            &json!("write")
        ),
        "{v}"
    );
    assert_eq!(v["units_map"]["repo.packages"], "write", "{v}");
    assert_eq!(v["includes_all_repositories"], false, "{v}");
    assert_eq!(v["organization"]["name"], "acme", "{v}");
    status(&s.put(&file("b.bin"), b"b", &bob), 201);

    // Renamed and lowered back to read: the write access goes at once; GET shows the change.
    let v = ok(&patch(
        &s,
        &team,
        &alice,
        json!({"name": "readers", "permission": "read", "units": ["repo.packages"]}),
    ));
    assert_eq!(
        (&v["name"], &v["permission"]),
        (&json!("readers"), &json!("read"))
    );
    assert_eq!(v["description"], "builders", "unchanged when absent: {v}");
    unauthorized(&s.put(&file("c.bin"), b"c", &bob));
    status(&s.get(&file("b.bin"), &bob), 200);
    let v = ok(&s.get(&team, &bob));
    assert_eq!(
        (&v["name"], &v["permission"]),
        (&json!("readers"), &json!("read"))
    );

    // The Owners team keeps its name and its owner level.
    let owners_path = format!("/api/v1/teams/{owners}");
    let r = patch(&s, &owners_path, &alice, json!({"name": "bosses"}));
    assert_eq!(r.status, 422, "{}", r.describe());
    let v = ok(&patch(
        &s,
        &owners_path,
        &alice,
        json!({"name": "Owners", "permission": "read", "description": "the owners",
               "can_create_org_repo": false}),
    ));
    assert_eq!(
        (
            &v["name"],
            &v["permission"],
            &v["description"],
            &v["can_create_org_repo"]
        ),
        (
            &json!("Owners"),
            &json!("owner"),
            &json!("the owners"),
            &json!(true)
        ),
        "{v}"
    );
    status(&s.put(&file("d.bin"), b"d", &alice), 201);
}

forge_e2e::backends!(
    editing_a_team,
    deleting_a_team,
    version_settings_and_users,
    organisations_and_members,
    the_forgejo_sdk_reads_them
);

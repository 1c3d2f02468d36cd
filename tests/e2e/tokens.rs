//! Personal access tokens through the v1 API, as Gitea/Forgejo clients create them.

use forge_e2e::{Auth, Backend, Resp, TestServer, PASSWORD};
use serde_json::{json, Value};

use crate::common::*;

fn tokens_path(user: &str) -> String {
    format!("/api/v1/users/{user}/tokens")
}

fn create(s: &TestServer, auth: &Auth, name: &str, scopes: &[&str]) -> Resp {
    s.post_json(
        &tokens_path(OWNER),
        auth,
        &json!({ "name": name, "scopes": scopes }),
    )
}

fn is_hex40(v: &str) -> bool {
    v.len() == 40 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Creates a write token through the API and returns (id, secret).
fn create_write_token(s: &TestServer, name: &str) -> (i64, String) {
    let r = create(s, &user2(), name, &["write:package"]);
    status(&r, 201);
    let v = r.json();
    let id = v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"));
    let secret = v["sha1"].as_str().unwrap_or_default().to_owned();
    (id, secret)
}

fn create_use_list_and_delete(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);

    let r = create(&s, &user2(), "ci", &["write:package"]);
    status(&r, 201);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{}",
        r.describe()
    );
    let v = r.json();
    for key in ["id", "name", "sha1", "token_last_eight", "scopes"] {
        assert!(v.get(key).is_some(), "{key} missing from {v}");
    }
    let secret = v["sha1"].as_str().unwrap_or_default().to_owned();
    assert!(is_hex40(&secret), "sha1 should be the 40-hex token: {v}");
    assert_eq!(v["name"], "ci");
    assert_eq!(v["token_last_eight"], secret[32..]);
    assert_eq!(v["scopes"], json!(["write:package"]));
    let id = v["id"].as_i64().expect("numeric id");

    // The token works on the registry.
    status(&s.put(&uf(FILE), CONTENT, &Auth::token(&secret)), 201);

    // Listed, without the secret.
    let r = s.get(&tokens_path(OWNER), &user2());
    status(&r, 200);
    assert!(
        !r.text().contains(&secret),
        "the list leaks the token: {}",
        r.text()
    );
    let list = r.json();
    let entries = list
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"));
    let entry = entries
        .iter()
        .find(|e| e["name"] == "ci")
        .unwrap_or_else(|| panic!("token ci not listed: {list}"));
    assert_eq!(entry["id"], id);
    assert_eq!(entry["token_last_eight"], secret[32..]);
    assert_eq!(entry["scopes"], json!(["write:package"]));

    // Delete by id.
    let r = s.delete(&format!("{}/{id}", tokens_path(OWNER)), &user2());
    status(&r, 204);
    unauthorized(&s.put(&uf("after-delete.bin"), CONTENT, &Auth::token(&secret)));
    let r = s.get(&tokens_path(OWNER), &user2());
    status(&r, 200);
    assert!(
        !r.json()
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["name"] == "ci")),
        "deleted token still listed: {}",
        r.text()
    );

    // Delete by name.
    let (_, second) = create_write_token(&s, "second");
    status(
        &s.put(&uf("second.bin"), CONTENT, &Auth::token(&second)),
        201,
    );
    status(
        &s.delete(&format!("{}/second", tokens_path(OWNER)), &user2()),
        204,
    );
    unauthorized(&s.put(&uf("third.bin"), CONTENT, &Auth::token(&second)));

    // Deleting again finds nothing.
    status(
        &s.delete(&format!("{}/{id}", tokens_path(OWNER)), &user2()),
        404,
    );
}

fn duplicate_names_are_refused(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    create_write_token(&s, "ci");
    let r = create(&s, &user2(), "ci", &["write:package"]);
    // Gitea and Forgejo answer 400 with a JSON message for a name already in use.
    status(&r, 400);
    assert!(r.json().get("message").is_some(), "{}", r.describe());
    let r = s.get(&tokens_path(OWNER), &user2());
    let count = r
        .json()
        .as_array()
        .map_or(0, |a| a.iter().filter(|e| e["name"] == "ci").count());
    assert_eq!(count, 1, "{}", r.text());
}

/// Creating tokens needs the password: a token cannot mint more tokens.
fn tokens_cannot_create_tokens(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let (_, secret) = create_write_token(&s, "ci");
    let all = s.token(OWNER, "all", "all");
    for auth in [
        Auth::token(&secret),
        Auth::bearer(&all),
        Auth::basic(OWNER, &all),
    ] {
        let r = create(&s, &auth, "minted", &["write:package"]);
        assert!(
            r.status == 401 || r.status == 403,
            "{auth:?} created a token: {}",
            r.describe()
        );
    }
    unauthorized(&create(&s, &forge_e2e::ANON, "anon", &["write:package"]));
    unauthorized(&create(
        &s,
        &Auth::basic(OWNER, "wrong"),
        "bad",
        &["write:package"],
    ));
}

/// Users manage only their own tokens.
fn tokens_belong_to_their_user(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    s.create_user("user3", PASSWORD, false);
    let (id, _) = create_write_token(&s, "ci");
    let user3 = Auth::basic("user3", PASSWORD);
    let r = s.post_json(
        &tokens_path(OWNER),
        &user3,
        &json!({ "name": "x", "scopes": ["write:package"] }),
    );
    assert!(r.status == 401 || r.status == 403, "{}", r.describe());
    let r = s.delete(&format!("{}/{id}", tokens_path(OWNER)), &user3);
    assert!(
        r.status == 401 || r.status == 403 || r.status == 404,
        "{}",
        r.describe()
    );
    let r = s.get(&tokens_path(OWNER), &user2());
    let listed: Vec<Value> = r.json().as_array().cloned().unwrap_or_default();
    assert_eq!(listed.len(), 1, "{}", r.text());
}

forge_e2e::backends!(
    create_use_list_and_delete,
    duplicate_names_are_refused,
    tokens_cannot_create_tokens,
    tokens_belong_to_their_user,
);

//! Control characters in owners, names, versions, file names, query parameters and token
//! names are a 400 with a message on every backend, and nothing is stored.

use forge_e2e::{Backend, TestServer, ANON};
use serde_json::json;

use crate::common::*;

const REFUSAL: &str = "control characters are not allowed in names, versions or parameters";

fn control_characters_in_paths_are_400(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    for path in [
        "/api/packages/user2%00/generic/app/1.0/f.bin",
        "/api/packages/user2/generic/app%00/1.0/f.bin",
        "/api/packages/user2/generic/app/1%00/f.bin",
        "/api/packages/user2/generic/app/1%0A2/f.bin",
        "/api/packages/user2/generic/app/1.0/f%00.bin",
        "/api/packages/user2/generic/app/1.0/f%7F.bin",
    ] {
        status_text(&s.put(path, CONTENT, &user2()), 400, REFUSAL);
        status_text(&s.get(path, &ANON), 400, REFUSAL);
    }
    assert!(s.stored_versions(OWNER).is_empty());
}

fn control_characters_in_the_api_are_400(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    upload_reference_file(&s);
    for path in [
        "/api/v1/packages/user2%00",
        "/api/v1/packages/user2?q=te%00",
        "/api/v1/packages/user2?type=generic%01",
        "/api/v1/packages/user2/generic/te-st_pac.kage/1%00",
    ] {
        let r = s.get(path, &user2());
        status(&r, 400);
        assert_eq!(r.json()["message"], REFUSAL, "{path}");
    }
    let r = s.post_json(
        "/api/v1/users/user2/tokens",
        &user2(),
        &json!({"name": "ci\u{0}", "scopes": ["write:package"]}),
    );
    status(&r, 400);
    assert_eq!(
        r.json()["message"],
        "token name must not contain control characters"
    );
    let r = s.post_json(
        "/api/v1/users/user2/tokens",
        &user2(),
        &json!({"name": "a\tb", "scopes": ["write:package"]}),
    );
    status(&r, 400);
    assert!(s.db().list_tokens(s.user_id(OWNER)).unwrap().is_empty());
    // Health and ordinary requests are untouched.
    status(&s.get("/api/v1/packages/user2?q=te", &user2()), 200);
}

forge_e2e::backends!(
    control_characters_in_paths_are_400,
    control_characters_in_the_api_are_400
);

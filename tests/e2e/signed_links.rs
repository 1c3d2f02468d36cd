//! Signed download links: minted through `/api/v1`, usable without credentials for exactly
//! one file and content until they expire, across key rotation.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use forge_e2e::{file_path, Auth, Backend, TestServer, Visibility, ANON, PASSWORD};

use crate::common::*;

fn links_path(file: &str) -> String {
    format!("/api/v1/packages/{OWNER}/generic/app/1.0/files/{file}/links")
}

fn file(name: &str) -> String {
    file_path(OWNER, "app", "1.0", name)
}

/// Asks for a link; answers the path-and-query of its URL and its JSON.
fn make_link(
    s: &TestServer,
    name: &str,
    body: Option<serde_json::Value>,
) -> (String, serde_json::Value) {
    let r = match body {
        Some(json) => s.post_json(&links_path(name), &user2(), &json),
        None => s.request("POST", &links_path(name), &user2(), &[], None),
    };
    status(&r, 201);
    let json = r.json();
    let url = json["url"].as_str().expect("url").to_owned();
    let path = url
        .strip_prefix(&s.base)
        .expect("URL on this server")
        .to_owned();
    (path, json)
}

fn keys(entries: &[(&str, &str, u8)]) -> String {
    entries
        .iter()
        .map(|(kid, alg, fill)| format!("{kid}:{alg}:{}", STANDARD.encode([*fill; 32])))
        .collect::<Vec<_>>()
        .join(",")
}

fn private_owner(s: &TestServer) {
    s.create_user_with_visibility(OWNER, PASSWORD, Visibility::Private);
    status(&s.put(&file("app.bin"), b"the app", &user2()), 201);
    status(&s.put(&file("other.bin"), b"other", &user2()), 201);
}

fn kid_of(path: &str) -> String {
    let token = path.split("link_token=").nth(1).expect("token");
    let header = token.split('.').next().expect("header");
    let json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64")).expect("json");
    assert!(json["alg"] == "HS256" || json["alg"] == "EdDSA", "{json}");
    json["kid"].as_str().expect("kid").to_owned()
}

fn links_grant_one_file(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.links.max_ttl = std::time::Duration::from_secs(600)
    });
    private_owner(&s);
    unauthorized(&s.get(&file("app.bin"), &ANON));
    let (path, json) = make_link(&s, "app.bin", None);
    assert!(
        path.starts_with(&format!("{}?link_token=", file("app.bin"))),
        "{path}"
    );
    // The default hour is cut to the configured maximum.
    let expires_at = json["expires_at"].as_str().expect("expires_at");
    assert!(expires_at.ends_with('Z'), "{expires_at}");
    let lifetime = |path: &str| {
        let claims = claims_of(path);
        claims["exp"].as_u64().unwrap_or(0) - claims["iat"].as_u64().unwrap_or(0)
    };
    assert_eq!(lifetime(&path), 600);
    let r = s.get(&path, &ANON);
    status(&r, 200);
    assert_eq!(r.body, b"the app");
    assert_eq!(
        r.header("repr-digest").map(|v| v.starts_with("sha-256=")),
        Some(true)
    );
    status(&s.head(&path, &ANON), 200);
    let (short, _) = make_link(&s, "app.bin", Some(serde_json::json!({"expires_in": 30})));
    assert_eq!(lifetime(&short), 30);
    assert_eq!(claims_of(&short)["aud"], "forge-packages:download");

    // Another file of the same version.
    let other = path.replacen("app.bin", "other.bin", 1);
    let r = s.get(&other, &ANON);
    status_text(&r, 403, "the download link is for another file");
    // Tampered: a changed payload or signature.
    let token = path.split("link_token=").nth(1).expect("token").to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    claims["exp"] = serde_json::json!(claims["exp"].as_u64().unwrap_or(0) + 10_000);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("json")),
        parts[2]
    );
    let r = s.get(&format!("{}?link_token={forged}", file("app.bin")), &ANON);
    unauthorized(&r);
    assert_eq!(r.text(), "the download link's signature is invalid");
    let mut sig = parts[2].to_owned();
    let flipped = if sig.ends_with('A') { 'B' } else { 'A' };
    sig.pop();
    sig.push(flipped);
    let r = s.get(
        &format!(
            "{}?link_token={}.{}.{sig}",
            file("app.bin"),
            parts[0],
            parts[1]
        ),
        &ANON,
    );
    assert_eq!(r.status, 401, "{}", r.describe());
    let r = s.get(&format!("{}?link_token=nonsense", file("app.bin")), &ANON);
    status_text(&r, 401, "the download link is malformed");

    // Making links needs read access (refused as the other package routes of /api/v1 refuse
    // it); a missing file has none.
    status(
        &s.request("POST", &links_path("app.bin"), &ANON, &[], None),
        403,
    );
    s.create_user("eve", PASSWORD, false);
    status(
        &s.request(
            "POST",
            &links_path("app.bin"),
            &Auth::basic("eve", PASSWORD),
            &[],
            None,
        ),
        403,
    );
    status(
        &s.request("POST", &links_path("missing.bin"), &user2(), &[], None),
        404,
    );
    let read_only = s.token(OWNER, "ro", "read:package");
    status(
        &s.request(
            "POST",
            &links_path("app.bin"),
            &Auth::token(&read_only),
            &[],
            None,
        ),
        201,
    );
    let r = s.post_json(
        &links_path("app.bin"),
        &user2(),
        &serde_json::json!({"expires_in": 0}),
    );
    status(&r, 400);
    let r = s.post_json(
        &links_path("app.bin"),
        &user2(),
        &serde_json::json!({"expires_in": "x"}),
    );
    status(&r, 400);

    // Replaced content: the link stops working; deleted: 404.
    status(&s.delete(&file("app.bin"), &user2()), 204);
    status_text(&s.get(&path, &ANON), 404, "package file does not exist");
    status(&s.put(&file("app.bin"), b"new content", &user2()), 201);
    status_text(
        &s.get(&path, &ANON),
        403,
        "the file has changed since the download link was made",
    );
}

/// The claims inside a link's token.
fn claims_of(path: &str) -> serde_json::Value {
    let token = path.split("link_token=").nth(1).expect("token");
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

fn links_expire(backend: Backend) {
    let s = TestServer::start(backend);
    private_owner(&s);
    let (path, _) = make_link(&s, "app.bin", Some(serde_json::json!({"expires_in": 1})));
    status(&s.get(&path, &ANON), 200);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let r = s.get(&path, &ANON);
    unauthorized(&r);
    assert_eq!(r.text(), "the download link has expired");
}

fn links_survive_key_rotation(backend: Backend) {
    let mut s = TestServer::start_with(backend, |c| {
        c.links.keys = keys(&[("k1", "HS256", 1)]).into();
    });
    private_owner(&s);
    let (old, _) = make_link(&s, "app.bin", None);
    assert_eq!(kid_of(&old), "k1");
    // A new key signs; the old one still verifies.
    s.env.config.links.keys = keys(&[("k1", "HS256", 1), ("k2", "EdDSA", 2)]).into();
    s.env.config.links.signing_key = "k2".to_owned();
    s.restart();
    status(&s.get(&old, &ANON), 200);
    let (new, _) = make_link(&s, "app.bin", None);
    assert_eq!(kid_of(&new), "k2");
    status(&s.get(&new, &ANON), 200);
    // The old key removed: its links stop working.
    s.env.config.links.keys = keys(&[("k2", "EdDSA", 2)]).into();
    s.env.config.links.signing_key = String::new();
    s.restart();
    let r = s.get(&old, &ANON);
    unauthorized(&r);
    assert_eq!(
        r.text(),
        "the download link was signed with a key this server does not know"
    );
    status(&s.get(&new, &ANON), 200);
    // Same id, other secret: forged.
    s.env.config.links.keys = keys(&[("k2", "EdDSA", 3)]).into();
    s.restart();
    status_text(
        &s.get(&new, &ANON),
        401,
        "the download link's signature is invalid",
    );
}

fn generated_key_survives_restart(backend: Backend) {
    let mut s = TestServer::start(backend);
    private_owner(&s);
    let (path, _) = make_link(&s, "app.bin", None);
    assert_eq!(kid_of(&path), "local");
    s.restart();
    status(&s.get(&path, &ANON), 200);
    assert!(s.data_dir().join("link-signing.key").is_file());
}

forge_e2e::backends!(
    links_grant_one_file,
    links_expire,
    links_survive_key_rotation,
    generated_key_survives_restart
);

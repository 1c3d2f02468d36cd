//! The web interface over HTTP: what each page shows to whom, sessions, form tokens and
//! escaping. Browser-level behaviour (scripts, clicks) is in `web_browser`.

use forge_e2e::{
    file_path, seg, AccessMode, Auth, Backend, TestServer, Visibility, WebClient, ANON, PASSWORD,
};

use crate::common::*;

/// Owners of every visibility with one package each, an organisation with a reading member,
/// an unrelated user and a site admin:
/// - `pubuser` (public) publishes `pub-pkg`;
/// - `limuser` (limited) publishes `lim-pkg`;
/// - `privuser` (private) publishes `priv-pkg`;
/// - `privorg` (private organisation, owned by `orgowner`, `member` reads) publishes `org-pkg`.
fn world(backend: Backend) -> TestServer {
    let s = TestServer::start(backend);
    s.create_user("pubuser", PASSWORD, false);
    s.create_user_with_visibility("limuser", PASSWORD, Visibility::Limited);
    s.create_user_with_visibility("privuser", PASSWORD, Visibility::Private);
    s.create_user("orgowner", PASSWORD, false);
    s.create_user("member", PASSWORD, false);
    s.create_user("other", PASSWORD, false);
    s.create_user("root", PASSWORD, true);
    s.create_org("privorg", Visibility::Private, "orgowner");
    s.create_team(
        "privorg",
        "readers",
        AccessMode::Read,
        AccessMode::Read,
        &["member"],
    );
    for (owner, uploader, pkg) in [
        ("pubuser", "pubuser", "pub-pkg"),
        ("limuser", "limuser", "lim-pkg"),
        ("privuser", "privuser", "priv-pkg"),
        ("privorg", "orgowner", "org-pkg"),
    ] {
        let r = s.put(
            &file_path(owner, pkg, "1.0.0", "app.tar.gz"),
            CONTENT,
            &Auth::basic(uploader, PASSWORD),
        );
        status(&r, 201);
    }
    s
}

const ALL_PACKAGES: [&str; 4] = ["pub-pkg", "lim-pkg", "priv-pkg", "org-pkg"];

fn browser<'a>(s: &'a TestServer, who: &str) -> WebClient<'a> {
    if who == "anonymous" {
        WebClient::new(s)
    } else {
        WebClient::signed_in(s, who, PASSWORD)
    }
}

#[track_caller]
fn html_page(r: &forge_e2e::Resp, expected: u16) -> String {
    status(r, expected);
    assert_eq!(
        r.header("content-type"),
        Some("text/html; charset=utf-8"),
        "{}",
        r.describe()
    );
    r.text()
}

fn pages_follow_owner_visibility(backend: Backend) {
    let s = world(backend);
    // Who sees which package, exactly as the API decides.
    let cases: [(&str, &[&str]); 7] = [
        ("anonymous", &["pub-pkg"]),
        ("other", &["pub-pkg", "lim-pkg"]),
        ("member", &["pub-pkg", "lim-pkg", "org-pkg"]),
        ("orgowner", &["pub-pkg", "lim-pkg", "org-pkg"]),
        ("privuser", &["pub-pkg", "lim-pkg", "priv-pkg"]),
        ("limuser", &["pub-pkg", "lim-pkg"]),
        ("root", &ALL_PACKAGES),
    ];
    let nothing_here = html_page(&WebClient::new(&s).get("/nobody/-/packages"), 404);
    for (who, visible) in cases {
        let mut b = browser(&s, who);
        let home = html_page(&b.get("/"), 200);
        for (owner, pkg) in [
            ("pubuser", "pub-pkg"),
            ("limuser", "lim-pkg"),
            ("privuser", "priv-pkg"),
            ("privorg", "org-pkg"),
        ] {
            let sees = visible.contains(&pkg);
            assert_eq!(home.contains(pkg), sees, "{who} on / and {pkg}: {home}");
            let list = b.get(&format!("/{owner}/-/packages"));
            let version = b.get(&format!("/{owner}/-/packages/generic/{pkg}/1.0.0"));
            if sees {
                assert!(html_page(&list, 200).contains(pkg), "{who} lists {owner}");
                let page = html_page(&version, 200);
                assert!(page.contains(CONTENT_SHA256), "{who} on {pkg}: {page}");
            } else {
                // Exactly the page of an owner that does not exist: nothing tells them apart.
                for r in [list, version] {
                    let body = html_page(&r, 404);
                    assert!(
                        !body.contains(owner) && !body.contains(pkg),
                        "{who}: {body}"
                    );
                    assert_eq!(body, nothing_here, "{who} on {owner}");
                }
            }
        }
    }
    // Unknown types, names and versions of a visible owner are plain 404s too.
    let mut anon = WebClient::new(&s);
    for path in [
        "/pubuser/-/packages/nope/pub-pkg/1.0.0",
        "/pubuser/-/packages/generic/nope/1.0.0",
        "/pubuser/-/packages/generic/pub-pkg/9.9",
    ] {
        html_page(&anon.get(path), 404);
    }
}

fn search_filter_and_paging(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("alice", PASSWORD, false);
    s.create_user("bob", PASSWORD, false);
    for i in 0..23 {
        let name = format!("tool-{i:02}");
        let r = s.put(
            &file_path("alice", &name, "1.0", "t.bin"),
            CONTENT,
            &Auth::basic("alice", PASSWORD),
        );
        status(&r, 201);
    }
    status(
        &s.put(
            &file_path("bob", "widget", "2.0", "w.bin"),
            CONTENT,
            &Auth::basic("bob", PASSWORD),
        ),
        201,
    );
    let mut b = WebClient::new(&s);
    // Search by name, by owner name, and by type.
    let found = html_page(&b.get("/?q=WIDG"), 200);
    assert!(
        found.contains("widget") && !found.contains("tool-"),
        "{found}"
    );
    let by_owner = html_page(&b.get("/?q=bob"), 200);
    assert!(by_owner.contains("widget") && !by_owner.contains("tool-"));
    let none = html_page(&b.get("/?type=pypi"), 200);
    assert!(none.contains("No packages found."), "{none}");
    // The owner page: 20 per page, newest first, with links to the next page.
    let first = html_page(&b.get("/alice/-/packages"), 200);
    assert!(first.contains("23 packages"), "{first}");
    assert!(
        first.contains("tool-22") && !first.contains("tool-02<"),
        "{first}"
    );
    assert!(first.contains("Page 1 of 2"));
    assert!(
        first.contains("href=\"?type=&amp;q=&amp;page=2\""),
        "{first}"
    );
    let second = html_page(&b.get("/alice/-/packages?page=2"), 200);
    assert!(second.contains("tool-02") && second.contains("tool-00"));
    assert!(!second.contains("tool-22"));
    let filtered = html_page(&b.get("/alice/-/packages?type=generic&q=tool-1"), 200);
    assert!(filtered.contains("10 packages"), "{filtered}");
    assert!(!filtered.contains("widget"));
}

fn version_page_shows_files_commands_and_versions(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let owner = user2();
    status(
        &s.put(&file_path(OWNER, NAME, "1.0", "a.txt"), b"one", &owner),
        201,
    );
    status(
        &s.put(&file_path(OWNER, NAME, VERSION, FILE), CONTENT, &owner),
        201,
    );
    status(
        &s.put(&file_path(OWNER, NAME, VERSION, "b.txt"), b"two", &owner),
        201,
    );
    status(&s.get(&file_path(OWNER, NAME, VERSION, FILE), &ANON), 200);
    let mut b = WebClient::new(&s);
    let path = format!("/{OWNER}/-/packages/generic/{}/{}", seg(NAME), seg(VERSION));
    let page = html_page(&b.get(&path), 200);
    let base = format!("http://{}", s.addr);
    let download = file_path(OWNER, NAME, VERSION, FILE);
    for expected in [
        format!("<h1>{NAME} {VERSION}</h1>"),
        format!("href=\"{download}\""),
        CONTENT_SHA256.to_owned(),
        "3 B".to_owned(),
        // MD5, SHA-1 and SHA-512 of the content on demand.
        "<summary>Other digests</summary>".to_owned(),
        "5289df737df57326fcdd22597afb1fac".to_owned(),
        format!("curl -fL -o '{FILE}' '{base}{download}'"),
        format!("wget -O '{FILE}' '{base}{download}'"),
        format!("sha256sum -c &lt;&lt;'SUMS'\n{CONTENT_SHA256}  {FILE}\n"),
        "<dt>Downloads</dt><dd>1</dd>".to_owned(),
        "<dt>Uploaded by</dt><dd>user2</dd>".to_owned(),
        // Both versions, the current one marked.
        format!("aria-current=\"page\"><strong>{VERSION}</strong>"),
        ">1.0</a>".to_owned(),
    ] {
        assert!(page.contains(&expected), "missing {expected:?} in {page}");
    }
    // Copy buttons are there for scripts to reveal; without scripts they stay hidden.
    assert!(page.contains("data-copy=\"cmd-curl\""));
    assert!(page.contains("hidden>Copy</button>"));
    // Not signed in: no delete controls.
    assert!(!page.contains("/delete"), "{page}");
    // The owner gets them.
    let mut o = WebClient::signed_in(&s, OWNER, PASSWORD);
    let mine = html_page(&o.get(&path), 200);
    assert!(
        mine.contains(&format!("{path}/delete?file={FILE}")),
        "{mine}"
    );
    assert!(mine.contains("Delete this version"));
    // Static parts.
    let css = b.get("/assets/style.css");
    status(&css, 200);
    assert!(css.text().contains("prefers-color-scheme: dark"));
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    let js = b.get("/assets/copy.js");
    status(&js, 200);
    assert!(js.text().contains("clipboard"));
}

fn sessions_are_rotated_flagged_and_ended(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("alice", PASSWORD, false);
    let mut b = WebClient::new(&s);
    // A session id planted before sign-in (fixation) is ignored and replaced.
    let planted = "a".repeat(64);
    b.set_cookie("forge_session", &planted);
    let r = b.sign_in("alice", PASSWORD);
    status(&r, 303);
    assert_eq!(r.header("location"), Some("/"));
    let set = r
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("forge_session="))
        .map(|(_, v)| v.clone())
        .expect("session cookie");
    assert!(set.contains("; HttpOnly"), "{set}");
    assert!(set.contains("; SameSite=Lax"), "{set}");
    assert!(set.contains("; Path=/"), "{set}");
    assert!(set.contains("; Max-Age=604800"), "{set}");
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let first = b.cookie("forge_session").expect("session").to_owned();
    assert_ne!(first, planted);
    assert_eq!(first.len(), 64);
    // Only the hash is stored.
    let db = s.db();
    let hash = sha256_hex(&first);
    assert!(db.session_with_user(&hash, 0).expect("query").is_some());
    assert!(db.session_with_user(&first, 0).expect("query").is_none());
    assert!(html_page(&b.get("/"), 200).contains("Sign out alice"));
    // A new sign-in rotates the id again and ends the old session.
    let again = [("user_name", "alice"), ("password", PASSWORD)];
    status(&b.submit("/", "/user/login", &again), 303);
    let second = b.cookie("forge_session").expect("session").to_owned();
    assert_ne!(second, first);
    let mut old = WebClient::new(&s);
    old.set_cookie("forge_session", &first);
    assert!(html_page(&old.get("/"), 200).contains("Sign in"));
    // A peer that is not a trusted proxy cannot claim HTTPS: the cookie stays without
    // Secure (over the server's own TLS or a trusted proxy's https it has it: security::).
    let mut forged = WebClient::new(&s);
    forged
        .extra_headers
        .push(("X-Forwarded-Proto".to_owned(), "https".to_owned()));
    let r = forged.sign_in("alice", PASSWORD);
    status(&r, 303);
    assert!(r.headers.iter().any(|(n, v)| n == "set-cookie"
        && v.starts_with("forge_session=")
        && !v.contains("Secure")));
    // Sign-out ends the session on the server, not just in the browser.
    let r = b.submit("/", "/user/logout", &[]);
    status(&r, 303);
    assert!(r.headers.iter().any(|(n, v)| n == "set-cookie"
        && v.starts_with("forge_session=;")
        && v.contains("Max-Age=0")));
    assert!(b.cookie("forge_session").is_none());
    let mut replay = WebClient::new(&s);
    replay.set_cookie("forge_session", &second);
    assert!(html_page(&replay.get("/"), 200).contains("Sign in"));
    assert!(db
        .session_with_user(&sha256_hex(&second), 0)
        .expect("query")
        .is_none());
    // Expired sessions are not accepted.
    status(&b.submit("/user/login", "/user/login", &again), 303);
    let third = b.cookie("forge_session").expect("session").to_owned();
    let far_future = forge_e2e::packages_db::Database::connect(&s.env.database_url(), 1)
        .expect("db")
        .session_with_user(&sha256_hex(&third), i64::MAX - 1)
        .expect("query");
    assert!(far_future.is_none(), "a session ends after its lifetime");
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn sign_in_failures_are_limited(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("alice", PASSWORD, false);
    s.create_user("bob", PASSWORD, false);
    let mut b = WebClient::new(&s);
    let r = b.sign_in("alice", "wrong password");
    let page = html_page(&r, 200);
    assert!(page.contains("Wrong user name or password."), "{page}");
    assert!(b.cookie("forge_session").is_none());
    // Unknown users fail the same way.
    let unknown = html_page(&b.sign_in("nobody", "whatever1"), 200);
    assert!(unknown.contains("Wrong user name or password."));
    for _ in 0..9 {
        html_page(&b.sign_in("alice", "wrong password"), 200);
    }
    // Ten failures for alice (the default limit): even the right password is now refused,
    // unchecked.
    let r = b.sign_in("alice", PASSWORD);
    html_page(&r, 429);
    let wait: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("secs");
    assert!(wait > 0 && wait <= 900, "{wait}");
    assert!(b.cookie("forge_session").is_none());
    // Another account is not affected.
    status(&b.sign_in("bob", PASSWORD), 303);
}

fn forms_need_the_form_token(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    s.create_user("mallory", PASSWORD, false);
    status(
        &s.put(&file_path(OWNER, NAME, "1.0", "a.txt"), b"one", &user2()),
        201,
    );
    status(
        &s.put(&file_path(OWNER, NAME, "1.0", "b.txt"), b"two", &user2()),
        201,
    );
    let token_id = {
        let r = s.post_json(
            &format!("/api/v1/users/{OWNER}/tokens"),
            &user2(),
            &serde_json::json!({"name": "ci", "scopes": ["write:package"]}),
        );
        status(&r, 201);
        r.json()["id"].as_i64().expect("id").to_string()
    };
    let mut victim = WebClient::signed_in(&s, OWNER, PASSWORD);
    let mut attacker = WebClient::signed_in(&s, "mallory", PASSWORD);
    let foreign = attacker.get("/").text();
    let foreign_token = forge_e2e::web_client::csrf_of(&foreign);
    let version = format!("/{OWNER}/-/packages/generic/{}/1.0", seg(NAME));
    for (action, fields) in [
        ("/user/logout", vec![]),
        (
            "/user/settings/applications",
            vec![("name", "evil"), ("scope", "write:package")],
        ),
        (
            "/user/settings/applications/delete",
            vec![("id", token_id.as_str())],
        ),
        (&*format!("{version}/delete"), vec![("file", "a.txt")]),
        (&*format!("{version}/delete"), vec![]),
    ] {
        for token in [None, Some("0".repeat(64)), Some(foreign_token.clone())] {
            let mut all: Vec<(&str, &str)> = fields.clone();
            if let Some(t) = &token {
                all.push(("_csrf", t));
            }
            let r = victim.post_form(action, &all);
            let page = html_page(&r, 403);
            assert!(page.contains("reload the page"), "{action}: {page}");
        }
    }
    // Nothing happened: still signed in, token and files still there.
    assert!(victim.get("/").text().contains("Sign out user2"));
    let tokens = s
        .get(&format!("/api/v1/users/{OWNER}/tokens"), &user2())
        .json();
    assert_eq!(tokens.as_array().map(Vec::len), Some(1), "{tokens}");
    assert_eq!(s.stored_package_files(OWNER, NAME, "1.0").len(), 2);
    // The sign-in form needs its token too (no signing victims in to an attacker's account).
    let mut fresh = WebClient::new(&s);
    let r = fresh.post_form(
        "/user/login",
        &[("user_name", OWNER), ("password", PASSWORD)],
    );
    html_page(&r, 403);
    assert!(fresh.cookie("forge_session").is_none());
}

fn tokens_page_creates_and_deletes(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    // Not signed in: sent to sign in first, and back afterwards.
    let mut anon = WebClient::new(&s);
    let r = anon.get("/user/settings/applications");
    status(&r, 303);
    assert_eq!(
        r.header("location"),
        Some("/user/login?redirect_to=/user/settings/applications")
    );
    let r = anon.submit(
        "/user/login?redirect_to=/user/settings/applications",
        "/user/login",
        &[
            ("user_name", OWNER),
            ("password", PASSWORD),
            ("redirect_to", "/user/settings/applications"),
        ],
    );
    status(&r, 303);
    assert_eq!(r.header("location"), Some("/user/settings/applications"));
    let mut b = anon;
    let page = html_page(&b.get("/user/settings/applications"), 200);
    assert!(page.contains("You have no tokens."));
    assert!(page.contains("value=\"write:package\""));
    // Create: shown once, works against the registry with exactly its scopes.
    let r = b.submit(
        "/user/settings/applications",
        "/user/settings/applications",
        &[
            ("name", "ci <deploy>"),
            ("scope", "write:package"),
            ("scope", "read:user"),
        ],
    );
    let created = html_page(&r, 200);
    assert!(created.contains("will not be shown again"), "{created}");
    assert!(created.contains("ci &lt;deploy&gt;"));
    let start = created.find("<pre id=\"new-token\"").expect("token block");
    let secret: String = created[start..]
        .split('>')
        .nth(1)
        .expect("token text")
        .chars()
        .take(40)
        .collect();
    assert_eq!(secret.len(), 40, "{secret}");
    status(
        &s.put(
            &file_path(OWNER, "pkg", "1", "f"),
            CONTENT,
            &Auth::token(&secret),
        ),
        201,
    );
    let listed = html_page(&b.get("/user/settings/applications"), 200);
    assert!(!listed.contains(&secret), "the secret is shown once only");
    assert!(listed.contains(&secret[32..]), "last eight shown");
    assert!(listed.contains("write:package, read:user"), "{listed}");
    // The API sees the same token.
    let api = s
        .get(&format!("/api/v1/users/{OWNER}/tokens"), &user2())
        .json();
    assert_eq!(api[0]["name"], "ci <deploy>");
    // Bad input: a clear message, nothing stored.
    for (fields, message) in [
        (vec![("name", "x")], "a token needs at least one scope"),
        (
            vec![("name", "x"), ("scope", "write:everything")],
            "invalid token scopes",
        ),
        (
            vec![("name", "ci <deploy>"), ("scope", "read:package")],
            "access token name has been used already",
        ),
        (
            vec![("name", "  "), ("scope", "read:package")],
            "token name must be",
        ),
    ] {
        let r = b.submit(
            "/user/settings/applications",
            "/user/settings/applications",
            &fields,
        );
        let page = html_page(&r, 400);
        assert!(page.contains(message), "{message}: {page}");
    }
    // Delete.
    let id = api[0]["id"].as_i64().expect("id").to_string();
    let r = b.submit(
        "/user/settings/applications",
        "/user/settings/applications/delete",
        &[("id", &id)],
    );
    status(&r, 303);
    let after = html_page(&b.get("/user/settings/applications"), 200);
    assert!(after.contains("You have no tokens."));
    unauthorized(&s.put(
        &file_path(OWNER, "pkg", "2", "f"),
        CONTENT,
        &Auth::token(&secret),
    ));
    // Someone else's token id is not found among one's own.
    s.create_user("other", PASSWORD, false);
    let theirs = s.post_json(
        "/api/v1/users/other/tokens",
        &Auth::basic("other", PASSWORD),
        &serde_json::json!({"name": "t", "scopes": ["read:package"]}),
    );
    let their_id = theirs.json()["id"].as_i64().expect("id").to_string();
    let r = b.submit(
        "/user/settings/applications",
        "/user/settings/applications/delete",
        &[("id", &their_id)],
    );
    html_page(&r, 404);
    let still = s
        .get(
            "/api/v1/users/other/tokens",
            &Auth::basic("other", PASSWORD),
        )
        .json();
    assert_eq!(still.as_array().map(Vec::len), Some(1));
}

fn deletes_need_write_access_and_confirmation(backend: Backend) {
    let s = world(backend);
    let owner = Auth::basic("orgowner", PASSWORD);
    status(
        &s.put(
            &file_path("privorg", "org-pkg", "1.0.0", "b.txt"),
            b"b",
            &owner,
        ),
        201,
    );
    status(
        &s.put(
            &file_path("pubuser", "pub-pkg", "2.0.0", "x"),
            b"x",
            &Auth::basic("pubuser", PASSWORD),
        ),
        201,
    );
    let version = "/privorg/-/packages/generic/org-pkg/1.0.0";
    let confirm = format!("{version}/delete?file=app.tar.gz");
    // Not visible: 404 like anything missing; visible without write: 403.
    html_page(&WebClient::new(&s).get(&confirm), 404);
    html_page(&browser(&s, "other").get(&confirm), 404);
    let mut member = browser(&s, "member");
    html_page(&member.get(&confirm), 403);
    let token = forge_e2e::web_client::csrf_of(&member.get("/").text());
    let r = member.post_form(
        &format!("{version}/delete"),
        &[("_csrf", &token), ("file", "app.tar.gz")],
    );
    html_page(&r, 403);
    let mut anon = WebClient::new(&s);
    // Not signed in on a visible package: sign in first, then back to the confirmation.
    let r = anon.get("/pubuser/-/packages/generic/pub-pkg/1.0.0/delete?file=app.tar.gz");
    status(&r, 303);
    assert_eq!(
        r.header("location"),
        Some("/user/login?redirect_to=%2Fpubuser%2F-%2Fpackages%2Fgeneric%2Fpub-pkg%2F1.0.0%2Fdelete%3Ffile%3Dapp.tar.gz")
    );
    let login = html_page(&anon.get(r.header("location").expect("location")), 200);
    assert!(
        login.contains("name=\"redirect_to\" value=\"/pubuser/-/packages/generic/pub-pkg/1.0.0/delete?file=app.tar.gz\""),
        "{login}"
    );
    let token = forge_e2e::web_client::csrf_of(&login);
    let r = anon.post_form(
        "/pubuser/-/packages/generic/pub-pkg/1.0.0/delete",
        &[("_csrf", &token), ("file", "app.tar.gz")],
    );
    html_page(&r, 403);
    assert_eq!(
        s.stored_package_files("privorg", "org-pkg", "1.0.0").len(),
        2
    );
    // The organisation's owner: the confirmation page, then the form deletes one file.
    let mut o = browser(&s, "orgowner");
    let page = html_page(&o.get(&confirm), 200);
    assert!(page.contains("<code>app.tar.gz</code>"), "{page}");
    assert!(page.contains(&format!("action=\"{version}/delete\"")));
    assert!(page.contains("name=\"file\" value=\"app.tar.gz\""));
    html_page(&o.get(&format!("{version}/delete?file=missing")), 404);
    let r = o.submit(
        &confirm,
        &format!("{version}/delete"),
        &[("file", "app.tar.gz")],
    );
    status(&r, 303);
    assert_eq!(r.header("location"), Some(version));
    let left = s.stored_package_files("privorg", "org-pkg", "1.0.0");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "b.txt");
    // A site admin deletes a whole version of someone else's package.
    let mut root = browser(&s, "root");
    let v2 = "/pubuser/-/packages/generic/pub-pkg/1.0.0";
    assert!(html_page(&root.get(&format!("{v2}/delete")), 200).contains("and all its files"));
    let r = root.submit(&format!("{v2}/delete"), &format!("{v2}/delete"), &[]);
    status(&r, 303);
    assert_eq!(r.header("location"), Some("/pubuser/-/packages"));
    assert!(s.stored_version("pubuser", "pub-pkg", "1.0.0").is_none());
    assert!(s.stored_version("pubuser", "pub-pkg", "2.0.0").is_some());
    html_page(&root.get(v2), 404);
}

fn stored_and_reflected_text_is_escaped(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let evil_version = "\"><script>alert('v')</script><img src=x onerror=alert(1)>";
    let evil_file = "a&b=(c);{d}<x.txt";
    let valid_file = "a&b=(c);{d}%x.txt";
    let r = s.put(
        &file_path(OWNER, "pkg", evil_version, valid_file),
        CONTENT,
        &user2(),
    );
    status(&r, 201);
    // `<` is not a valid file name character; the registry refuses it.
    status(
        &s.put(&file_path(OWNER, "pkg", "1", evil_file), CONTENT, &user2()),
        400,
    );
    let mut b = WebClient::signed_in(&s, OWNER, PASSWORD);
    let version_page = format!("/{OWNER}/-/packages/generic/pkg/{}", seg(evil_version));
    for path in [
        "/".to_owned(),
        format!("/{OWNER}/-/packages"),
        version_page.clone(),
        format!("{version_page}/delete"),
        format!(
            "{version_page}/delete?file={}",
            forge_e2e::web_client::form_encode(valid_file)
        ),
        // Reflected: the search text comes back in the form.
        "/?q=%22%3E%3Cscript%3Ealert(2)%3C%2Fscript%3E".to_owned(),
        format!("/{OWNER}/-/packages?q=%22%3E%3Cscript%3Ealert(3)%3C%2Fscript%3E&type=%3Cb%3E"),
        "/user/login?redirect_to=%22%3E%3Cscript%3Ealert(4)%3C%2Fscript%3E".to_owned(),
    ] {
        let r = b.get(&path);
        let page = r.text();
        assert!(
            r.status == 200 || r.status == 303,
            "{path}: {}",
            r.describe()
        );
        assert!(!page.contains("<script>alert"), "{path}: {page}");
        assert!(!page.contains("<img src=x"), "{path}: {page}");
        if r.status == 200 {
            assert!(
                r.header("content-security-policy")
                    .is_some_and(|c| c.contains("script-src 'self'")),
                "{path}"
            );
        }
    }
    let page = b.get(&version_page).text();
    assert!(
        page.contains("&quot;&gt;&lt;script&gt;alert('v')&lt;/script&gt;"),
        "{page}"
    );
    assert!(page.contains("a&amp;b=(c);{d}%x.txt"), "{page}");
    // The shell commands quote what they name.
    assert!(
        page.contains("curl -fL -o 'a&amp;b=(c);{d}%x.txt'"),
        "{page}"
    );
    let search = b.get("/?q=%22%3E%3Cscript%3E").text();
    assert!(
        search.contains("value=\"&quot;&gt;&lt;script&gt;\""),
        "{search}"
    );
}

fn usage_page_for_owners_and_admins(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.limits.total_owner_size = packages_core::Limit::AtMost(1024 * 1024);
    });
    s.create_user("alice", PASSWORD, false);
    s.create_user("other", PASSWORD, false);
    s.create_user("root", PASSWORD, true);
    let alice = Auth::basic("alice", PASSWORD);
    status(
        &s.put(
            &file_path("alice", "big", "1", "f"),
            &[7u8; 300 * 1024],
            &alice,
        ),
        201,
    );
    status(
        &s.put(
            &file_path("alice", "big", "2", "f"),
            &[8u8; 100 * 1024],
            &alice,
        ),
        201,
    );
    status(
        &s.put(&file_path("alice", "small", "1", "f"), &[9u8; 10], &alice),
        201,
    );
    for who in ["alice", "root"] {
        let mut b = browser(&s, who);
        assert!(html_page(&b.get("/alice/-/packages"), 200).contains("/alice/-/packages/usage"));
        let page = html_page(&b.get("/alice/-/packages/usage"), 200);
        assert!(page.contains("400.0 KiB of 1.0 MiB"), "{page}");
        assert!(page.contains("<dd>3 (no limit)</dd>"), "{page}");
        assert!(page.contains("<svg class=\"usage\""), "{page}");
        // Bars against the quota: 400 KiB of 1 MiB over a 390-unit track is 152.
        assert!(
            page.contains("class=\"fill\" x=\"220\" y=\"6\" width=\"152\""),
            "{page}"
        );
        assert!(page.contains(">big</text>") && page.contains(">small</text>"));
        assert!(page.find(">big<") < page.find(">small<"), "largest first");
    }
    let mut other = browser(&s, "other");
    assert!(!html_page(&other.get("/alice/-/packages"), 200).contains("/usage"));
    html_page(&other.get("/alice/-/packages/usage"), 403);
    html_page(&WebClient::new(&s).get("/nobody/-/packages/usage"), 404);
}

fn cleanup_rules_and_their_preview_on_the_usage_page(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("alice", PASSWORD, false);
    s.create_user("other", PASSWORD, false);
    s.create_user("root", PASSWORD, true);
    let alice = Auth::basic("alice", PASSWORD);
    for v in ["1.0", "2.0"] {
        status(
            &s.put(&file_path("alice", "app", v, "f"), b"x", &alice),
            201,
        );
    }
    let mut b = browser(&s, "alice");
    assert!(html_page(&b.get("/alice/-/packages/usage"), 200).contains("No cleanup rules."));
    let r = s.post_json(
        "/api/v1/packages/alice/-/cleanup-rules",
        &alice,
        &serde_json::json!({"type": "generic", "keep_count": 1, "remove_pattern": "<b>"}),
    );
    status(&r, 201);
    let id = r.json()["id"].as_i64().expect("id");
    let preview = format!("/alice/-/packages/cleanup-rules/{id}/preview");
    for who in ["alice", "root"] {
        let mut b = browser(&s, who);
        let usage = html_page(&b.get("/alice/-/packages/usage"), 200);
        assert!(usage.contains(&format!("href=\"{preview}\"")), "{usage}");
        assert!(usage.contains("<code>&lt;b&gt;</code>"), "{usage}");
    }
    // The pattern matches nothing: the preview says so.
    let page = html_page(&b.get(&preview), 200);
    assert!(page.contains("it would remove 0 versions"), "{page}");
    let r = s.request(
        "PATCH",
        &format!("/api/v1/packages/alice/-/cleanup-rules/{id}"),
        &alice,
        &[],
        Some(br#"{"remove_pattern": ""}"#),
    );
    status(&r, 200);
    let page = html_page(&b.get(&preview), 200);
    assert!(page.contains("Disabled"), "{page}");
    assert!(page.contains("it would remove 1 versions"), "{page}");
    assert!(
        page.contains("href=\"/alice/-/packages/generic/app/1.0\""),
        "{page}"
    );
    assert!(!page.contains("/app/2.0"), "{page}");
    assert_eq!(
        s.stored_versions("alice").len(),
        2,
        "a preview removes nothing"
    );

    html_page(&browser(&s, "other").get(&preview), 403);
    html_page(&WebClient::new(&s).get(&preview), 403);
    html_page(&b.get("/nobody/-/packages/cleanup-rules/1/preview"), 404);
    html_page(
        &b.get("/alice/-/packages/cleanup-rules/999999/preview"),
        404,
    );
    html_page(&b.get("/alice/-/packages/cleanup-rules/x/preview"), 404);
}

fn pages_leave_the_api_alone(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let r = s.get("/api/healthz", &ANON);
    status(&r, 200);
    status_text(&s.get("/api/nope", &ANON), 404, "404 page not found");
    status_text(&s.get("/nope/deeper", &ANON), 404, "404 page not found");
    let json = s.get(&format!("/api/v1/packages/{OWNER}"), &ANON);
    status(&json, 200);
    assert_eq!(json.json(), serde_json::json!([]));
    // Browsers get a page for unknown paths, API paths stay plain.
    let mut b = WebClient::new(&s);
    let page = html_page(&b.get("/nope/deeper"), 404);
    assert!(page.contains("<h1>Not found</h1>"));
    let api = b.get("/api/nope");
    status_text(&api, 404, "404 page not found");
    // Owners named like API words are fine: `/api` is reserved as a name anyway.
    status(&b.get("/api/-/packages"), 404);
}

forge_e2e::backends!(
    pages_follow_owner_visibility,
    search_filter_and_paging,
    version_page_shows_files_commands_and_versions,
    sessions_are_rotated_flagged_and_ended,
    sign_in_failures_are_limited,
    forms_need_the_form_token,
    tokens_page_creates_and_deletes,
    deletes_need_write_access_and_confirmation,
    stored_and_reflected_text_is_escaped,
    usage_page_for_owners_and_admins,
    cleanup_rules_and_their_preview_on_the_usage_page,
    pages_leave_the_api_alone,
);

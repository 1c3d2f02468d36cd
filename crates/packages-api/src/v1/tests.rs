//! The `/api/v1` routes in process, over a fresh SQLite database: statuses, messages,
//! headers and JSON shapes as a Gitea client sees them.

use std::sync::Arc;

use actix_web::body::to_bytes;
use actix_web::dev::ServiceResponse;
use actix_web::http::{Method, StatusCode};
use actix_web::{test, web, App};
use packages_core::{MultiHasher, PackageType, Visibility};
use packages_db::{Database, NewAccessToken, NewUpload, NewUser, UploadLimits, User};
use packages_storage::LocalBlobStore;
use serde_json::{json, Value};

use crate::state::{AppState, Limits, Settings};

const PASSWORD: &str = "password123";

/// The `/api/v1` routes reach packages through the registered formats; these tests store
/// rows of the `generic` type directly, so they register a format of that name with no
/// routes of its own (the format crates are tested end to end).
struct RowsOnly;

impl packages_core::FormatRules for RowsOnly {
    fn package_type(&self) -> PackageType {
        PackageType::Generic
    }
}

impl crate::formats::Format for RowsOnly {
    fn routes(&self) -> &'static [crate::formats::Route] {
        &[]
    }

    fn openapi(&self) -> utoipa::openapi::Paths {
        utoipa::openapi::Paths::new()
    }

    fn handle(
        &'static self,
        _req: actix_web::HttpRequest,
        _body: crate::body::RequestBody,
        _state: web::Data<AppState>,
        _path: crate::registry::path::RegistryPath,
    ) -> futures_util::future::LocalBoxFuture<
        'static,
        crate::error::ApiResult<actix_web::HttpResponse>,
    > {
        Box::pin(async { Err(crate::error::ApiError::NoRoute) })
    }
}

struct World {
    state: AppState,
    _dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("forge.db").display());
        let db = Database::connect(&url, 4).expect("database");
        db.run_migrations().expect("migrations");
        let store = LocalBlobStore::open(dir.path().join("blobs")).expect("store");
        let settings = Settings {
            limits: Limits::default(),
            require_signin_view: false,
            bcrypt_cost: 4,
            batch_download_counts: false,
            read_cache_ttl: std::time::Duration::from_secs(2),
            trusted_proxies: Default::default(),
            root_url: None,
            max_concurrent_uploads: 0,
            login_limits: Default::default(),
            metrics_enabled: true,
            metrics_token: Default::default(),
            serve_direct: None,
            links: crate::state::LinkSettings {
                keys: Arc::new(
                    forge_auth::signed_link::LinkKeys::single_hs256("test", &[5; 32])
                        .expect("link key"),
                ),
                max_ttl_secs: 3600,
            },
            allow_replace: true,
            idle_timeout: std::time::Duration::from_secs(60),
            resumable_expiry: std::time::Duration::from_secs(3600),
        };
        let state = AppState::new(
            db,
            Arc::new(store),
            settings,
            crate::Formats::new([&RowsOnly as &dyn crate::Format]),
        )
        .expect("state");
        World { state, _dir: dir }
    }

    fn db(&self) -> &Database {
        &self.state.db
    }

    fn user(&self, name: &str) -> User {
        let hash = forge_auth::hash_password(PASSWORD, 4).expect("hash");
        self.db()
            .create_user(&NewUser::user(
                name,
                &format!("{name}@example.com"),
                Some(hash),
            ))
            .expect("user")
    }

    fn admin(&self, name: &str) -> User {
        let hash = forge_auth::hash_password(PASSWORD, 4).expect("hash");
        self.db()
            .create_user(&NewUser {
                is_admin: true,
                ..NewUser::user(name, &format!("{name}@example.com"), Some(hash))
            })
            .expect("admin")
    }

    fn org(&self, name: &str, visibility: Visibility, owner: &User) -> User {
        self.db()
            .create_org(&NewUser::org(name, visibility), owner.id)
            .expect("org")
            .0
    }

    fn token(&self, user: &User, scope: &str) -> String {
        let secret = forge_auth::generate_token().expect("token");
        self.db()
            .create_token(&NewAccessToken {
                user_id: user.id,
                name: format!("t{}", secret.last_eight),
                token_hash: secret.hash.clone(),
                token_last_eight: secret.last_eight.clone(),
                scope: scope.to_owned(),
            })
            .expect("stored token");
        format!("token {}", secret.token.expose())
    }

    fn upload(&self, owner: &User, name: &str, version: &str, file: &str, content: &[u8]) {
        self.upload_by(owner, owner, name, version, file, content);
    }

    fn upload_by(
        &self,
        owner: &User,
        creator: &User,
        name: &str,
        version: &str,
        file: &str,
        content: &[u8],
    ) {
        let mut hasher = MultiHasher::new();
        hasher.update(content);
        self.db()
            .add_file(&NewUpload {
                owner_id: owner.id,
                creator_id: creator.id,
                ptype: PackageType::Generic,
                name: name.into(),
                version: version.into(),
                file_name: file.into(),
                digests: hasher.finalize(),
                storage_key: None,
                limits: UploadLimits::default(),
            })
            .expect("upload");
    }
}

fn basic(user: &str, password: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::new();
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

struct Reply {
    status: StatusCode,
    headers: actix_web::http::header::HeaderMap,
    json: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or("")
    }
}

fn request(
    method: Method,
    uri: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> test::TestRequest {
    let mut req = test::TestRequest::default()
        .method(method)
        .uri(uri)
        .insert_header(("Host", "pkg.example:3000"));
    if let Some(auth) = auth {
        req = req.insert_header(("Authorization", auth));
    }
    if let Some(body) = body {
        req = req.set_json(body);
    }
    req
}

async fn reply(resp: ServiceResponse) -> Reply {
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = to_bytes(resp.into_body()).await.unwrap_or_default();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Reply {
        status,
        headers,
        json,
    }
}

/// Sends a request to the app and reads the reply (a macro so the service type need not be
/// named).
macro_rules! send {
    ($app:expr, $method:expr, $uri:expr, $auth:expr, $body:expr $(,)?) => {
        reply(test::call_service($app, request($method, $uri, $auth, $body).to_request()).await)
    };
}

macro_rules! app {
    ($world:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new($world.state.clone()))
                .configure(|cfg| crate::configure(cfg, &crate::Formats::default())),
        )
        .await
    };
}

#[actix_web::test]
async fn gate_answers_in_gitea_terms() {
    let w = World::new();
    let app = app!(w);
    let alice = w.user("alice");
    let r = send!(&app, Method::GET, "/api/v1/user", None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json,
        json!({"message": "token is required", "url": "/api/swagger"})
    );

    let r = send!(
        &app,
        Method::GET,
        "/api/v1/user",
        Some(&basic("alice", "wrong")),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let token = w.token(&alice, "read:package");
    let r = send!(&app, Method::GET, "/api/v1/user", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.message(),
        "token does not have at least one of required scope(s): [read:user]"
    );

    let token = w.token(&alice, "read:user");
    let r = send!(&app, Method::GET, "/api/v1/user", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["login"], "alice");
    assert_eq!(r.json["email"], "alice@example.com");
    assert_eq!(r.json["active"], true);
    assert_eq!(r.json["html_url"], "http://pkg.example:3000/alice");

    let r = send!(
        &app,
        Method::GET,
        "/api/v1/user",
        Some(&basic("alice", PASSWORD)),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["username"], "alice");

    // A disabled account is refused even with valid credentials.
    w.db()
        .update_user(
            alice.id,
            &packages_db::UserChanges {
                prohibit_login: Some(true),
                ..Default::default()
            },
        )
        .expect("update");
    let r = send!(&app, Method::GET, "/api/v1/user", Some(&token), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn admins_create_edit_and_delete_users() {
    let w = World::new();
    let app = app!(w);
    w.admin("root");
    w.user("plain");
    let root = basic("root", PASSWORD);
    let body = json!({
        "username": "newbie", "email": "newbie@example.com", "password": "longenough",
        "full_name": "New Bie", "visibility": "limited", "login_name": "x", "source_id": 0
    });

    let r = send!(
        &app,
        Method::POST,
        "/api/v1/admin/users",
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send!(
        &app,
        Method::POST,
        "/api/v1/admin/users",
        Some(&basic("plain", PASSWORD)),
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = send!(
        &app,
        Method::POST,
        "/api/v1/admin/users",
        Some(&root),
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["login"], "newbie");
    assert_eq!(r.json["full_name"], "New Bie");
    assert_eq!(r.json["visibility"], "limited");
    assert_eq!(r.json["active"], true);
    assert_eq!(r.json["is_admin"], false);
    let created = w.db().user_by_name("newbie").expect("db").expect("user");
    assert!(created.must_change_password, "Gitea's default");

    // Taken names (any casing, organisations included) and invalid input.
    let again =
        json!({"username": "NEWBIE", "email": "other@example.com", "password": "longenough"});
    let r = send!(
        &app,
        Method::POST,
        "/api/v1/admin/users",
        Some(&root),
        Some(again),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.message(), "user already exists [name: NEWBIE]");
    for (bad, status) in [
        (
            json!({"username": "-x", "email": "x@example.com", "password": "longenough"}),
            422,
        ),
        (
            json!({"username": "admin", "email": "x@example.com", "password": "longenough"}),
            422,
        ),
        (
            json!({"username": "x", "email": "nope", "password": "longenough"}),
            422,
        ),
        (
            json!({"username": "x", "email": "x@example.com", "password": "short"}),
            400,
        ),
        (json!({"username": "x", "email": "x@example.com"}), 400),
        (
            json!({"username": "x", "email": "newbie@example.com", "password": "longenough"}),
            422,
        ),
        (
            json!({"username": "x", "email": "x@example.com", "password": "longenough", "visibility": "secret"}),
            422,
        ),
    ] {
        let r = send!(
            &app,
            Method::POST,
            "/api/v1/admin/users",
            Some(&root),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(r.status.as_u16(), status, "{bad} → {}", r.json);
    }

    // Edit: the password cache must not let the old password in afterwards.
    let old = basic("newbie", "longenough");
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/user", Some(&old), None)
            .await
            .status,
        200
    );
    let edit = json!({"password": "brand-new-pass", "full_name": "Renamed", "website": "https://n.example",
                      "location": "Mars", "visibility": "private", "login_name": "ignored", "source_id": 0});
    let r = send!(
        &app,
        Method::PATCH,
        "/api/v1/admin/users/newbie",
        Some(&root),
        Some(edit),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["full_name"], "Renamed");
    assert_eq!(r.json["website"], "https://n.example");
    assert_eq!(r.json["location"], "Mars");
    assert_eq!(r.json["visibility"], "private");
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/user", Some(&old), None)
            .await
            .status,
        401
    );
    let new = basic("newbie", "brand-new-pass");
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/user", Some(&new), None)
            .await
            .status,
        200
    );

    let r = send!(
        &app,
        Method::PATCH,
        "/api/v1/admin/users/ghost",
        Some(&root),
        Some(json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send!(
        &app,
        Method::PATCH,
        "/api/v1/admin/users/root",
        Some(&root),
        Some(json!({"admin": false})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "the last admin keeps the flag"
    );
    let r = send!(
        &app,
        Method::PATCH,
        "/api/v1/admin/users/newbie",
        Some(&root),
        Some(json!({"email": "plain@example.com"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "e-mail in use");
    let r = send!(
        &app,
        Method::PATCH,
        "/api/v1/admin/users/newbie",
        Some(&root),
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(r.json["active"], false);
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/user", Some(&new), None)
            .await
            .status,
        403
    );

    // Delete.
    let newbie = w.db().user_by_name("newbie").expect("db").expect("user");
    w.upload(&newbie, "p", "1", "f", b"x");
    let r = send!(
        &app,
        Method::DELETE,
        "/api/v1/admin/users/newbie",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(w
        .db()
        .delete_version(newbie.id, PackageType::Generic, "p", "1")
        .expect("delete"));
    let r = send!(
        &app,
        Method::DELETE,
        "/api/v1/admin/users/root",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.message(), "you cannot delete yourself");
    let r = send!(
        &app,
        Method::DELETE,
        "/api/v1/admin/users/newbie",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = send!(
        &app,
        Method::DELETE,
        "/api/v1/admin/users/newbie",
        Some(&root),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn organisations_and_teams() {
    let w = World::new();
    let app = app!(w);
    let owner = w.user("owner");
    let member = w.user("member");
    w.user("outsider");
    w.admin("root");
    let (o, m, x) = (
        basic("owner", PASSWORD),
        basic("member", PASSWORD),
        basic("outsider", PASSWORD),
    );

    let body = json!({"username": "acme", "full_name": "Acme", "visibility": "private",
                      "website": "https://acme.example", "location": "Earth", "description": "d"});
    let r = send!(&app, Method::POST, "/api/v1/orgs", None, Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send!(
        &app,
        Method::POST,
        "/api/v1/orgs",
        Some(&o),
        Some(body.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(
        r.json,
        json!({"id": r.json["id"], "name": "acme", "full_name": "Acme", "email": "",
               "avatar_url": "", "description": "d", "website": "https://acme.example",
               "location": "Earth", "visibility": "private",
               "repo_admin_change_team_access": false, "username": "acme"})
    );
    let r = send!(
        &app,
        Method::POST,
        "/api/v1/orgs",
        Some(&o),
        Some(json!({"username": "MEMBER"})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "users and orgs share names"
    );

    // A private organisation is invisible to outsiders, visible to members and admins.
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/orgs/acme", None, None)
            .await
            .status,
        404
    );
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/orgs/acme", Some(&x), None)
            .await
            .status,
        404
    );
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/orgs/ACME", Some(&o), None)
            .await
            .status,
        200
    );
    let root = basic("root", PASSWORD);
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/orgs/acme", Some(&root), None)
            .await
            .status,
        200
    );
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/orgs/owner", Some(&o), None)
            .await
            .status,
        404
    );

    // Teams.
    let team = json!({"name": "Publishers", "description": "ship it", "permission": "read",
                      "units": ["repo.code"], "units_map": {"repo.packages": "write"},
                      "includes_all_repositories": false, "can_create_org_repo": true});
    let r = send!(
        &app,
        Method::POST,
        "/api/v1/orgs/acme/teams",
        Some(&x),
        Some(team.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = send!(
        &app,
        Method::POST,
        "/api/v1/orgs/acme/teams",
        Some(&o),
        Some(team.clone()),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json);
    assert_eq!(r.json["permission"], "write");
    assert_eq!(r.json["units"], json!(["repo.packages"]));
    assert_eq!(r.json["units_map"], json!({"repo.packages": "write"}));
    assert_eq!(r.json["can_create_org_repo"], true);
    assert_eq!(r.json["organization"]["name"], "acme");
    let team_id = r.json["id"].as_i64().expect("id");
    let r = send!(
        &app,
        Method::POST,
        "/api/v1/orgs/acme/teams",
        Some(&o),
        Some(team),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let members = format!("/api/v1/teams/{team_id}/members/member");
    assert_eq!(
        send!(&app, Method::PUT, &members, Some(&x), None)
            .await
            .status,
        404
    );
    assert_eq!(
        send!(&app, Method::PUT, &members, None, None).await.status,
        401
    );
    assert_eq!(
        send!(&app, Method::PUT, &members, Some(&o), None)
            .await
            .status,
        204
    );
    let nobody = format!("/api/v1/teams/{team_id}/members/nobody");
    assert_eq!(
        send!(&app, Method::PUT, &nobody, Some(&o), None)
            .await
            .status,
        404
    );
    assert_eq!(
        send!(
            &app,
            Method::PUT,
            "/api/v1/teams/9999/members/member",
            Some(&o),
            None
        )
        .await
        .status,
        404
    );
    let acme = w.db().user_by_name("acme").expect("db").expect("org");
    let membership = w.db().membership(acme.id, member.id).expect("membership");
    assert_eq!(
        membership.max_packages_unit,
        packages_core::AccessMode::Write
    );

    // Members see the org and its teams but may not manage them.
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/orgs/acme", Some(&m), None)
            .await
            .status,
        200
    );
    let r = send!(&app, Method::GET, "/api/v1/orgs/acme/teams", Some(&m), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("X-Total-Count"), Some("2"));
    assert_eq!(r.json[0]["name"], "Owners");
    assert_eq!(r.json[0]["permission"], "owner");
    assert_eq!(r.json[1]["name"], "Publishers");
    let r = send!(
        &app,
        Method::GET,
        &format!("/api/v1/teams/{team_id}"),
        Some(&m),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let owners_id = r.json["id"].as_i64().map(|_| ()).and(
        w.db()
            .teams_of_org(acme.id)
            .expect("teams")
            .first()
            .map(|(t, _)| t.id),
    );
    let owners_id = owners_id.expect("owners team");
    let r = send!(
        &app,
        Method::GET,
        &format!("/api/v1/teams/{owners_id}"),
        Some(&m),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "not in that team");
    assert_eq!(
        send!(&app, Method::DELETE, &members, Some(&m), None)
            .await
            .status,
        403
    );
    assert_eq!(
        send!(&app, Method::DELETE, "/api/v1/orgs/acme", Some(&m), None)
            .await
            .status,
        403
    );

    // The last owner stays.
    let last = format!("/api/v1/teams/{owners_id}/members/owner");
    let r = send!(&app, Method::DELETE, &last, Some(&o), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        send!(&app, Method::DELETE, &members, Some(&o), None)
            .await
            .status,
        204
    );
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/orgs/acme/teams", Some(&m), None)
            .await
            .status,
        404
    );

    // An organisation with packages stays; without, its owner deletes it.
    w.upload(&acme, "p", "1", "f", b"x");
    let r = send!(&app, Method::DELETE, "/api/v1/orgs/acme", Some(&o), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(w
        .db()
        .delete_package(acme.id, PackageType::Generic, "p")
        .expect("delete"));
    let r = send!(&app, Method::DELETE, "/api/v1/orgs/acme", Some(&o), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/orgs/acme", Some(&o), None)
            .await
            .status,
        404
    );
    let _ = owner;
}

#[actix_web::test]
async fn packages_list_show_and_delete() {
    let w = World::new();
    let app = app!(w);
    let alice = w.user("alice");
    let bob = w.user("bob");
    w.upload(&alice, "Tool", "1.0", "a.bin", b"");
    w.upload(&alice, "tool", "1.0", "b.bin", b"b");
    w.upload(&alice, "tool", "2.0", "a.bin", b"c");
    w.upload(&alice, "other", "0.1", "x", b"d");

    let r = send!(&app, Method::GET, "/api/v1/packages/alice", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("X-Total-Count"), Some("3"));
    assert_eq!(
        r.header("Access-Control-Expose-Headers"),
        Some("X-Total-Count")
    );
    let versions: Vec<&str> = r
        .json
        .as_array()
        .expect("array")
        .iter()
        .map(|p| p["version"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(versions, ["0.1", "2.0", "1.0"], "newest first");
    assert_eq!(r.json[2]["name"], "Tool");
    assert_eq!(r.json[2]["type"], "generic");
    assert_eq!(r.json[2]["creator"]["login"], "alice");
    assert_eq!(r.json[2]["repository"], Value::Null);
    assert_eq!(
        r.json[2]["html_url"],
        "http://pkg.example:3000/alice/-/packages/generic/tool/1.0"
    );

    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice?limit=1&page=2&q=TO",
        None,
        None,
    )
    .await;
    assert_eq!(r.header("X-Total-Count"), Some("2"));
    assert_eq!(r.json.as_array().map(Vec::len), Some(1));
    assert_eq!(
        r.header("Link"),
        Some(
            "<http://pkg.example:3000/api/v1/packages/alice?limit=1&page=1&q=TO>; rel=\"first\",\
             <http://pkg.example:3000/api/v1/packages/alice?limit=1&page=1&q=TO>; rel=\"prev\""
        )
    );
    assert_eq!(
        r.header("Access-Control-Expose-Headers"),
        Some("X-Total-Count, Link")
    );
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice?type=dummy",
        None,
        None,
    )
    .await;
    assert_eq!((r.status, r.json.clone()), (StatusCode::OK, json!([])));
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice?type=all",
        None,
        None,
    )
    .await;
    assert_eq!(r.header("X-Total-Count"), Some("3"));
    assert_eq!(
        send!(&app, Method::GET, "/api/v1/packages/nobody", None, None)
            .await
            .status,
        404
    );

    // One version, its files, one package's versions, the latest.
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice/dummy/tool/1.0",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.message(), "package does not exist");
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice/generic/TOOL/1.0",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["version"], "1.0");
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice/generic/tool/1.0/files",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json[0]["name"], "a.bin");
    assert_eq!(r.json[0]["Size"], 0);
    assert_eq!(
        r.json[0]["sha256"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(r.json[0]["md5"], "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(r.json[1]["name"], "b.bin");
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice/generic/tool",
        None,
        None,
    )
    .await;
    assert_eq!(r.header("X-Total-Count"), Some("2"));
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice/generic/tool/-/latest",
        None,
        None,
    )
    .await;
    assert_eq!(r.json["version"], "2.0");
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice/generic/none/-/latest",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Deletes: anonymous 401, a reader 403, a read token 403, then the owner.
    let v1 = "/api/v1/packages/alice/generic/tool/1.0";
    let r = send!(&app, Method::DELETE, v1, None, None).await;
    assert_eq!(
        (r.status, r.message()),
        (StatusCode::UNAUTHORIZED, "token is required")
    );
    let r = send!(
        &app,
        Method::DELETE,
        v1,
        Some(&basic("bob", PASSWORD)),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.message(),
        "user should have specific permission or be a site admin"
    );
    let read = w.token(&alice, "read:package");
    let r = send!(&app, Method::DELETE, v1, Some(&read), None).await;
    assert_eq!(
        r.message(),
        "token does not have at least one of required scope(s): [write:package]"
    );
    let write = w.token(&alice, "write:package");
    let r = send!(
        &app,
        Method::DELETE,
        "/api/v1/packages/alice/dummy/tool/1.0",
        Some(&write),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        send!(&app, Method::DELETE, v1, Some(&write), None)
            .await
            .status,
        204
    );
    assert_eq!(
        send!(&app, Method::DELETE, v1, Some(&write), None)
            .await
            .status,
        404
    );
    let whole = "/api/v1/packages/alice/generic/tool";
    assert_eq!(
        send!(&app, Method::DELETE, whole, None, None).await.status,
        401
    );
    assert_eq!(
        send!(&app, Method::DELETE, whole, Some(&write), None)
            .await
            .status,
        204
    );
    assert_eq!(
        send!(&app, Method::GET, whole, None, None).await.status,
        404
    );

    // Private owners: hidden from others (403), public-only tokens refused.
    w.db()
        .update_user(
            alice.id,
            &packages_db::UserChanges {
                visibility: Some(Visibility::Private),
                ..Default::default()
            },
        )
        .expect("update");
    let bob_token = w.token(&bob, "read:package");
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice",
        Some(&bob_token),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice/generic/other/0.1",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let public_only = w.token(&alice, "public-only,read:package");
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice",
        Some(&public_only),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.message(), "token scope is limited to public packages");
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice",
        Some(&read),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json[0]["owner"]["visibility"], "private");

    // A deleted creator shows as the ghost.
    let carol = w.user("carol");
    let crew = w.org("crew", Visibility::Public, &carol);
    w.upload_by(&crew, &carol, "b", "1", "f", b"z");
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/crew/generic/b/1",
        None,
        None
    )
    .await;
    assert_eq!(r.json["creator"]["login"], "carol");
    assert_eq!(r.json["owner"]["email"], "crew@noreply.pkg.example");
    assert!(w.db().delete_user(carol.id).expect("delete"));
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/crew/generic/b/1",
        None,
        None
    )
    .await;
    assert_eq!(r.json["creator"]["id"], -1);
    assert_eq!(r.json["creator"]["login"], "Ghost");
    let _ = bob;
}

#[actix_web::test]
async fn path_segments_are_decoded() {
    let w = World::new();
    let app = app!(w);
    let alice = w.user("alice");
    w.upload(&alice, "pkg", "1.0/beta 2+x", "f", b"x");
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice/generic/pkg/1.0%2Fbeta%202+x",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
    assert_eq!(r.json["version"], "1.0/beta 2+x");
    assert_eq!(
        r.json["html_url"],
        "http://pkg.example:3000/alice/-/packages/generic/pkg/1.0%2Fbeta%202+x"
    );
    let r = send!(
        &app,
        Method::GET,
        "/api/v1/packages/alice/generic/pkg/1.0%2Fbeta%202+x/files",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json);
}

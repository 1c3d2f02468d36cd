//! Health check and the admin operations called in-process.

use forge_e2e::{Auth, Backend, TestServer, ANON};

use crate::common::*;

fn health(backend: Backend) {
    let s = TestServer::start(backend);
    let r = s.get("/api/healthz", &ANON);
    status(&r, 200);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("application/json"),
        "{}",
        r.describe()
    );
    assert!(r.json().is_object(), "{}", r.describe());
}

fn admin_created_user_and_token_work(backend: Backend) {
    let s = TestServer::start(backend);
    forge_server::admin::create_user(
        s.config(),
        "maker",
        "s3cret-pass",
        "maker@example.com",
        false,
    )
    .expect("create user");
    let basic = Auth::basic("maker", "s3cret-pass");
    let path = forge_e2e::file_path("maker", "tool", "1.0", "tool.tar.gz");
    status(&s.put(&path, b"tool", &basic), 201);
    unauthorized(&s.put(&path, b"tool", &Auth::basic("maker", "not-the-password")));

    let token =
        forge_server::admin::generate_access_token(s.config(), "maker", "ci", "write:package")
            .expect("generate token");
    assert!(
        token.len() == 40 && token.bytes().all(|b| b.is_ascii_hexdigit()),
        "token should be 40 hex characters: {token:?}"
    );
    let path2 = forge_e2e::file_path("maker", "tool", "1.1", "tool.tar.gz");
    status(&s.put(&path2, b"tool 1.1", &Auth::token(&token)), 201);

    // Both a duplicate user and a token for an unknown user are refused.
    assert!(forge_server::admin::create_user(
        s.config(),
        "maker",
        "other-pass",
        "m2@example.com",
        false
    )
    .is_err());
    assert!(forge_server::admin::generate_access_token(
        s.config(),
        "nobody",
        "ci",
        "write:package"
    )
    .is_err());
    // Admins are admins.
    forge_server::admin::create_user(s.config(), "boss", "boss-pass", "boss@example.com", true)
        .expect("create admin");
    status(
        &s.put(
            &forge_e2e::file_path("maker", "tool", "2.0", "x"),
            b"x",
            &Auth::basic("boss", "boss-pass"),
        ),
        201,
    );
}

fn admin_org_and_password_operations(backend: Backend) {
    let s = TestServer::start(backend);
    let config = s.config();
    forge_server::admin::create_user(config, "founder", "first-pass", "f@example.com", false)
        .expect("create founder");
    forge_server::admin::create_user(config, "outsider", "other-pass", "o@example.com", false)
        .expect("create outsider");
    let org = forge_server::admin::create_org(
        config,
        "acme",
        "founder",
        packages_core::Visibility::Private,
    )
    .expect("create org");
    assert_eq!(org.name, "acme");
    // Users and organisations share one namespace.
    assert!(forge_server::admin::create_org(
        config,
        "Founder",
        "founder",
        packages_core::Visibility::Public
    )
    .is_err());
    assert!(forge_server::admin::create_org(
        config,
        "ghost-org",
        "nobody",
        packages_core::Visibility::Public
    )
    .is_err());

    // The owner publishes into the organisation; an outsider cannot even read it.
    let path = forge_e2e::file_path("acme", "app", "1.0", "app.bin");
    status(
        &s.put(&path, b"app", &Auth::basic("founder", "first-pass")),
        201,
    );
    unauthorized(&s.get(&path, &Auth::basic("outsider", "other-pass")));
    status(&s.get(&path, &Auth::basic("founder", "first-pass")), 200);

    let users = forge_server::admin::list_users(config).expect("list users");
    let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        ["founder", "outsider"],
        "organisations are not listed as users"
    );

    // A password changed by another process (as the admin command line is) works at once;
    // the old one, just verified and remembered, stops working within the read cache's
    // time-to-live (2 s by default).
    forge_server::admin::change_password(config, "founder", "second-pass").expect("change");
    status(&s.get(&path, &Auth::basic("founder", "second-pass")), 200);
    let old_refused = forge_e2e::wait_until(std::time::Duration::from_secs(5), || {
        s.get(&path, &Auth::basic("founder", "first-pass")).status == 401
    });
    assert!(old_refused, "the old password still works");
    unauthorized(&s.get(&path, &Auth::basic("founder", "first-pass")));
    assert!(forge_server::admin::change_password(config, "founder", "short").is_err());
}

forge_e2e::backends!(
    health,
    admin_created_user_and_token_work,
    admin_org_and_password_operations
);

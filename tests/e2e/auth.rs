//! The ways a client can authenticate, and who may do what.

use forge_e2e::{Auth, Backend, TestServer, ANON, PASSWORD};

use crate::common::*;

fn credential_forms(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let t = s.token(OWNER, "ci", "write:package");
    let forms = [
        ("token", Auth::token(&t)),
        ("bearer", Auth::bearer(&t)),
        ("bearer-lower-case-scheme", Auth::Raw(format!("bearer {t}"))),
        ("basic-password", user2()),
        ("basic-user-token", Auth::basic(OWNER, &t)),
        ("basic-token-empty-password", Auth::basic(&t, "")),
        (
            "basic-token-x-oauth-basic",
            Auth::basic(&t, "x-oauth-basic"),
        ),
        // The user name is not matched against the token's owner.
        ("basic-any-user-token", Auth::basic("someone-else", &t)),
    ];
    for (file, auth) in &forms {
        let r = s.put(&uf(file), CONTENT, auth);
        assert_eq!(r.status, 201, "{file} ({auth:?}): {}", r.describe());
        let r = s.delete(&uf(file), auth);
        assert_eq!(r.status, 204, "{file} ({auth:?}): {}", r.describe());
    }
}

fn query_string_tokens_are_ignored(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let t = s.token(OWNER, "ci", "write:package");
    for param in ["token", "access_token"] {
        unauthorized(&s.put(&format!("{}?{param}={t}", uf(FILE)), CONTENT, &ANON));
    }
    assert!(s.stored_versions(OWNER).is_empty());
    // A query string does not get in the way of header credentials.
    status(
        &s.put(&format!("{}?token=whatever", uf(FILE)), CONTENT, &user2()),
        201,
    );
}

fn read_token_cannot_write(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    upload_reference_file(&s);
    let read = s.token(OWNER, "read", "read:package");
    for auth in [Auth::token(&read), Auth::basic(OWNER, &read)] {
        unauthorized(&s.put(&uf("new.bin"), CONTENT, &auth));
        unauthorized(&s.delete(&uf(FILE), &auth));
        unauthorized(&s.delete(&u(), &auth));
        let r = s.get(&uf(FILE), &auth);
        status(&r, 200);
        assert_eq!(r.body, CONTENT);
    }
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), 1);
}

/// A token scoped to something other than packages can do nothing on the registry.
fn unrelated_scope_cannot_read_or_write(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    upload_reference_file(&s);
    let other = s.token(OWNER, "repo", "read:repository");
    unauthorized(&s.put(&uf("new.bin"), CONTENT, &Auth::token(&other)));
    unauthorized(&s.get(&uf(FILE), &Auth::token(&other)));
    let all = s.token(OWNER, "all", "all");
    status(&s.put(&uf("new.bin"), CONTENT, &Auth::token(&all)), 201);
}

fn users_cannot_write_to_other_namespaces(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    s.create_user("user3", PASSWORD, false);
    upload_reference_file(&s);
    let user3 = Auth::basic("user3", PASSWORD);
    let user3_token = Auth::token(&s.token("user3", "w", "write:package"));
    for auth in [&user3, &user3_token] {
        unauthorized(&s.put(&uf("new.bin"), CONTENT, auth));
        unauthorized(&s.delete(&uf(FILE), auth));
        unauthorized(&s.delete(&u(), auth));
        status(&s.get(&uf(FILE), auth), 200);
    }
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), 1);
    // Their own namespace is fine, and a site admin may write anywhere.
    status(
        &s.put(
            &forge_e2e::file_path("user3", NAME, VERSION, FILE),
            CONTENT,
            &user3_token,
        ),
        201,
    );
    s.create_user("root", PASSWORD, true);
    status(
        &s.put(&uf("by-admin.bin"), CONTENT, &Auth::basic("root", PASSWORD)),
        201,
    );
    status(&s.delete(&uf(FILE), &Auth::basic("root", PASSWORD)), 204);
}

fn owner_names_ignore_case_for_writes(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let path = forge_e2e::file_path("USER2", NAME, VERSION, FILE);
    status(&s.put(&path, CONTENT, &user2()), 201);
    let versions = s.stored_versions(OWNER);
    assert_eq!(versions.len(), 1);
}

forge_e2e::backends!(
    credential_forms,
    query_string_tokens_are_ignored,
    read_token_cannot_write,
    unrelated_scope_cannot_read_or_write,
    users_cannot_write_to_other_namespaces,
    owner_names_ignore_case_for_writes,
);

//! Owners that are not public, public-only tokens, and users who may not sign in.

use forge_e2e::{file_path, Auth, Backend, TestServer, UserChanges, Visibility, ANON, PASSWORD};

use crate::common::*;

fn path(owner: &str) -> String {
    file_path(owner, "pkg", "1.0", "f.bin")
}

fn private_owners_are_not_hidden_but_closed(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user_with_visibility("user31", PASSWORD, Visibility::Private);
    s.create_user("user5", PASSWORD, false);
    s.create_user("root", PASSWORD, true);
    let owner = Auth::basic("user31", PASSWORD);
    status(&s.put(&path("user31"), CONTENT, &owner), 201);

    // 401, never 404: the owner exists, the caller just may not see it.
    unauthorized(&s.get(&path("user31"), &ANON));
    unauthorized(&s.get(&path("user31"), &Auth::basic("user5", PASSWORD)));
    unauthorized(&s.head(&path("user31"), &Auth::basic("user5", PASSWORD)));
    unauthorized(&s.put(
        &file_path("user31", "pkg", "1.0", "g"),
        CONTENT,
        &Auth::basic("user5", PASSWORD),
    ));
    for auth in [owner, Auth::basic("root", PASSWORD)] {
        let r = s.get(&path("user31"), &auth);
        status(&r, 200);
        assert_eq!(r.body, CONTENT);
    }
    assert_eq!(s.download_count("user31", "pkg", "1.0"), 2);
}

fn limited_owners_are_visible_to_signed_in_users(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user_with_visibility("user33", PASSWORD, Visibility::Limited);
    s.create_user("user5", PASSWORD, false);
    status(
        &s.put(&path("user33"), CONTENT, &Auth::basic("user33", PASSWORD)),
        201,
    );
    unauthorized(&s.get(&path("user33"), &ANON));
    let user5 = Auth::basic("user5", PASSWORD);
    let r = s.get(&path("user33"), &user5);
    status(&r, 200);
    assert_eq!(r.body, CONTENT);
    unauthorized(&s.put(&file_path("user33", "pkg", "1.0", "g"), CONTENT, &user5));
    unauthorized(&s.delete(&path("user33"), &user5));
}

fn public_only_tokens_stay_out_of_private_owners(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user_with_visibility("user31", PASSWORD, Visibility::Private);
    s.create_user_with_visibility("user33", PASSWORD, Visibility::Limited);
    s.create_user("user5", PASSWORD, false);
    status(
        &s.put(&path("user31"), CONTENT, &Auth::basic("user31", PASSWORD)),
        201,
    );

    let private_public_only = Auth::token(&s.token("user31", "p", "public-only,write:package"));
    let r = s.get(&path("user31"), &private_public_only);
    status(&r, 403);
    let r = s.put(
        &file_path("user31", "pkg", "1.0", "g"),
        CONTENT,
        &private_public_only,
    );
    status(&r, 403);
    assert_eq!(s.stored_package_files("user31", "pkg", "1.0").len(), 1);
    // Without public-only the same user's token works.
    let full = Auth::token(&s.token("user31", "w", "write:package"));
    status(&s.get(&path("user31"), &full), 200);

    // Public and limited owners are within reach.
    let public_only = Auth::token(&s.token("user5", "p", "public-only,write:package"));
    status(&s.put(&path("user5"), CONTENT, &public_only), 201);
    let limited_public_only = Auth::token(&s.token("user33", "p", "public-only,write:package"));
    status(&s.put(&path("user33"), CONTENT, &limited_public_only), 201);
}

fn inactive_and_prohibited_users_are_refused(backend: Backend) {
    // The accounts are changed through the test's own database handle, as another instance
    // would; without the read cache the server sees that at once.
    let s = TestServer::start_with(backend, |c| c.cache.read_ttl = std::time::Duration::ZERO);
    with_user2(&s);
    upload_reference_file(&s);
    s.create_user("user9", PASSWORD, false);
    s.create_user("user10", PASSWORD, false);
    let token9 = s.token("user9", "w", "write:package");
    let token10 = s.token("user10", "w", "write:package");
    status(&s.put(&path("user9"), CONTENT, &Auth::token(&token9)), 201);
    status(
        &s.put(&path("user10"), CONTENT, &Auth::token(&token10)),
        201,
    );
    s.update_user(
        "user9",
        &UserChanges {
            is_active: Some(false),
            ..UserChanges::default()
        },
    );
    s.update_user(
        "user10",
        &UserChanges {
            prohibit_login: Some(true),
            ..UserChanges::default()
        },
    );
    for (user, token) in [("user9", &token9), ("user10", &token10)] {
        for auth in [Auth::basic(user, PASSWORD), Auth::token(token)] {
            // Not even their own packages, nor public reads that anonymous users may do.
            unauthorized(&s.put(&file_path(user, "pkg", "1.0", "g"), CONTENT, &auth));
            unauthorized(&s.delete(&path(user), &auth));
            unauthorized(&s.get(&path(user), &auth));
            unauthorized(&s.get(&uf(FILE), &auth));
        }
        // Their public packages stay readable to others.
        status(&s.get(&path(user), &ANON), 200);
    }
}

forge_e2e::backends!(
    private_owners_are_not_hidden_but_closed,
    limited_owners_are_visible_to_signed_in_users,
    public_only_tokens_stay_out_of_private_owners,
    inactive_and_prohibited_users_are_refused,
);

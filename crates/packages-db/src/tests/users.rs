use packages_core::{OwnerKind, Visibility};

use super::{backend_tests, user};
use crate::{Database, DbError, NewAccessToken, NewUser, UserChanges};

backend_tests!(
    migrations_down_and_up_again,
    ping_answers,
    users_are_case_insensitive_and_unique,
    users_update_list_and_delete,
    tokens_create_find_and_delete,
    concurrent_migrations,
);

fn migrations_down_and_up_again(db: &Database) {
    user(db, "before");
    db.revert_migrations().unwrap();
    assert!(db.user_by_name("before").is_err(), "tables must be gone");
    db.run_migrations().unwrap();
    assert_eq!(db.user_by_name("before").unwrap(), None);
    user(db, "after");
    // Running again is a no-op.
    db.run_migrations().unwrap();
    assert!(db.user_by_name("AFTER").unwrap().is_some());
}

fn ping_answers(db: &Database) {
    db.ping().unwrap();
}

fn users_are_case_insensitive_and_unique(db: &Database) {
    let alice = user(db, "Alice");
    assert_eq!(alice.name, "Alice");
    assert_eq!(alice.lower_name, "alice");
    assert_eq!(alice.kind, OwnerKind::User);
    assert_eq!(alice.visibility, Visibility::Public);
    assert_eq!(alice.password_hash.as_deref(), Some("hash"));
    assert!(alice.is_active && !alice.is_admin);
    assert!(alice.created_unix > 0);
    assert_eq!(alice.last_login_unix, 0);

    assert_eq!(db.user_by_name("aLiCe").unwrap().unwrap().id, alice.id);
    assert_eq!(db.user_by_id(alice.id).unwrap().unwrap(), alice);
    assert_eq!(db.user_by_name("bob").unwrap(), None);
    assert_eq!(db.user_by_id(alice.id + 1000).unwrap(), None);

    match db.create_user(&NewUser::user("ALICE", "other@example.com", None)) {
        Err(DbError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Organisations share the namespace.
    match db.create_org(&NewUser::org("alice", Visibility::Public), alice.id) {
        Err(DbError::Conflict(_)) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
}

fn users_update_list_and_delete(db: &Database) {
    let a = user(db, "a");
    let b = user(db, "b");
    let (org, _) = db
        .create_org(&NewUser::org("org", Visibility::Private), a.id)
        .unwrap();
    assert_eq!(org.kind, OwnerKind::Organization);
    assert_eq!(org.password_hash, None);

    let ids = |kind| {
        db.list_users(kind)
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(None), vec![a.id, b.id, org.id]);
    assert_eq!(ids(Some(OwnerKind::User)), vec![a.id, b.id]);
    assert_eq!(ids(Some(OwnerKind::Organization)), vec![org.id]);

    let changed = db
        .update_user(
            b.id,
            &UserChanges {
                email: Some("New@Example.com".into()),
                is_admin: Some(true),
                visibility: Some(Visibility::Limited),
                password_hash: Some(None),
                must_change_password: Some(true),
                full_name: Some("Bee".into()),
                ..UserChanges::default()
            },
        )
        .unwrap();
    assert_eq!(changed.email, "New@Example.com");
    assert_eq!(changed.lower_email, "new@example.com");
    assert!(changed.is_admin && changed.must_change_password);
    assert_eq!(changed.visibility, Visibility::Limited);
    assert_eq!(changed.password_hash, None);
    assert_eq!(changed.full_name, "Bee");
    assert_eq!(changed.description, "");
    assert!(changed.is_active);
    assert!(matches!(
        db.update_user(9999, &UserChanges::default()),
        Err(DbError::NotFound)
    ));

    db.touch_last_login(a.id).unwrap();
    assert!(db.user_by_id(a.id).unwrap().unwrap().last_login_unix > 0);

    // Deleting cascades to tokens, memberships and packages.
    db.create_token(&NewAccessToken {
        user_id: a.id,
        name: "t".into(),
        token_hash: "h-a".into(),
        token_last_eight: "12345678".into(),
        scope: "all".into(),
    })
    .unwrap();
    let upload = crate::tests::packages::upload(a.id, "pkg", "1.0", "f.bin", b"x");
    db.add_file(&upload).unwrap();
    assert!(db.delete_user(a.id).unwrap());
    assert!(!db.delete_user(a.id).unwrap());
    assert_eq!(db.user_by_id(a.id).unwrap(), None);
    assert_eq!(db.token_with_user("h-a").unwrap(), None);
    assert!(!db.membership(org.id, a.id).unwrap().is_member);
    assert_eq!(db.owner_usage(a.id).unwrap(), (0, 0));
    // The blob stays for the sweep.
    assert_eq!(db.unreferenced_blobs(i64::MAX, 10).unwrap().len(), 1);
}

fn tokens_create_find_and_delete(db: &Database) {
    let u = user(db, "tok");
    let other = user(db, "other");
    let new = |name: &str, hash: &str| NewAccessToken {
        user_id: u.id,
        name: name.into(),
        token_hash: hash.into(),
        token_last_eight: "abcdefgh".into(),
        scope: "read:package".into(),
    };
    let t1 = db.create_token(&new("first", "hash1")).unwrap();
    assert_eq!(t1.name, "first");
    assert_eq!(t1.scope, "read:package");
    assert_eq!(t1.created_unix, t1.updated_unix);
    let t2 = db.create_token(&new("second", "hash2")).unwrap();
    assert!(matches!(
        db.create_token(&new("first", "hash3")),
        Err(DbError::Conflict(_))
    ));
    assert!(matches!(
        db.create_token(&NewAccessToken {
            user_id: 424242,
            ..new("x", "hash4")
        }),
        Err(DbError::NotFound)
    ));

    let (found, owner) = db.token_with_user("hash1").unwrap().unwrap();
    assert_eq!(found, t1);
    assert_eq!(owner.id, u.id);
    assert_eq!(db.token_with_user("nope").unwrap(), None);
    db.touch_token(t1.id).unwrap();

    let names: Vec<String> = db
        .list_tokens(u.id)
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["first", "second"]);
    assert!(db.list_tokens(other.id).unwrap().is_empty());

    // Another user's token cannot be deleted.
    assert!(!db.delete_token(other.id, &t1.id.to_string()).unwrap());
    assert!(db.delete_token(u.id, &t1.id.to_string()).unwrap());
    assert!(!db.delete_token(u.id, &t1.id.to_string()).unwrap());
    assert!(db.delete_token(u.id, "second").unwrap());
    assert!(!db.delete_token(u.id, &t2.name).unwrap());
    // A token named like a number is still deletable by name.
    db.create_token(&new("2024", "hash5")).unwrap();
    assert!(db.delete_token(u.id, "2024").unwrap());
    assert!(db.list_tokens(u.id).unwrap().is_empty());
}

/// Instances starting together migrate one after another.
fn concurrent_migrations(db: &Database) {
    db.revert_migrations().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || db.run_migrations())
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    user(db, "migrated");
}

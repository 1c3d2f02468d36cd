//! Conditional uploads: `If-Match` replaces a file atomically, `If-None-Match: *` refuses an
//! existing one with 412, and a server setting or the owner's own setting can forbid
//! replacing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use forge_e2e::{file_path, sha256_hex, Auth, Backend, TestServer, Visibility, ANON, PASSWORD};

use crate::common::*;

fn path(file: &str) -> String {
    file_path(OWNER, "app", "1.0", file)
}

fn etag(s: &TestServer, file: &str) -> String {
    let r = s.head(&path(file), &ANON);
    status(&r, 200);
    r.header("etag").expect("ETag").to_owned()
}

fn put_if(s: &TestServer, file: &str, header: (&str, &str), body: &[u8]) -> forge_e2e::Resp {
    s.request("PUT", &path(file), &user2(), &[header], Some(body))
}

fn conditional_uploads(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    // Bodies read whole and bodies streamed to disk take different paths.
    let large_old = vec![1u8; 200_000];
    let large_new = vec![2u8; 150_000];
    for (file, old, new) in [
        ("small.bin", &b"old"[..], &b"new content"[..]),
        ("large.bin", &large_old[..], &large_new[..]),
    ] {
        // If-None-Match: * creates, then refuses with 412 instead of 409.
        status(&put_if(&s, file, ("If-None-Match", "*"), old), 201);
        status(&put_if(&s, file, ("If-None-Match", "*"), new), 412);
        status(&s.put(&path(file), new, &user2()), 409);
        let old_tag = etag(&s, file);
        assert_eq!(old_tag, format!("\"{}\"", sha256_hex(old)));

        // A stale or wrong tag changes nothing.
        let r = put_if(&s, file, ("If-Match", "\"0000\""), new);
        status_text(
            &r,
            412,
            "the file does not match the request's precondition",
        );
        assert_eq!(s.get(&path(file), &ANON).body, old);

        // The current tag replaces: 200 with the new digests.
        let r = put_if(&s, file, ("If-Match", &old_tag), new);
        status(&r, 200);
        assert_eq!(r.json()["sha256"], sha256_hex(new));
        assert_eq!(r.json()["size"], new.len() as u64);
        let got = s.get(&path(file), &ANON);
        assert_eq!(got.body, new);
        assert_eq!(
            got.header("etag"),
            Some(format!("\"{}\"", sha256_hex(new)).as_str())
        );
        // The old tag is stale now.
        status(&put_if(&s, file, ("If-Match", &old_tag), old), 412);
        assert_eq!(s.get(&path(file), &ANON).body, new);
        // `*` replaces whatever is there.
        status(&put_if(&s, file, ("If-Match", "*"), old), 200);
        assert_eq!(s.get(&path(file), &ANON).body, old);
    }
    // If-Match on a file that does not exist: 412, nothing stored.
    status(&put_if(&s, "absent.bin", ("If-Match", "*"), b"x"), 412);
    status(
        &put_if(&s, "absent.bin", ("If-Match", "*"), &large_new),
        412,
    );
    status(&s.get(&path("absent.bin"), &ANON), 404);
    let files = s.stored_package_files(OWNER, "app", "1.0");
    assert_eq!(files.len(), 2, "{files:?}");
    // Replacing keeps one row per file; content no longer referenced waits for the sweep.
    assert!(
        files.iter().all(|f| f.size == 3 || f.size == 200_000),
        "{files:?}"
    );
    // Malformed conditions.
    status(
        &put_if(&s, "small.bin", ("If-Match", "no-quotes"), b"x"),
        400,
    );
    status(
        &put_if(&s, "small.bin", ("If-None-Match", "\"x\""), b"x"),
        400,
    );
    // The digest of a replacement is verified like any upload's.
    let r = s.request(
        "PUT",
        &path("small.bin"),
        &user2(),
        &[
            ("If-Match", "*"),
            ("X-Checksum-Sha256", &sha256_hex(b"other")),
        ],
        Some(b"mine"),
    );
    status(&r, 400);
    assert_eq!(s.get(&path("small.bin"), &ANON).body, b"old");
    // Replacing needs write access like uploading.
    s.create_user("eve", forge_e2e::PASSWORD, false);
    let r = s.request(
        "PUT",
        &path("small.bin"),
        &forge_e2e::Auth::basic("eve", forge_e2e::PASSWORD),
        &[("If-Match", "*")],
        Some(b"evil"),
    );
    assert!(r.status == 401 || r.status == 403, "{}", r.describe());
    assert_eq!(s.get(&path("small.bin"), &ANON).body, b"old");
}

fn concurrent_replace(backend: Backend) {
    let s = Arc::new(TestServer::start(backend));
    with_user2(&s);
    let original = vec![0u8; 100_000];
    status(&s.put(&path("race.bin"), &original, &user2()), 201);
    let tag = etag(&s, "race.bin");
    let writers = 20;
    let bodies: Vec<Vec<u8>> = (1..=writers).map(|i| vec![i as u8; 100_000]).collect();
    let done = Arc::new(AtomicBool::new(false));
    // Readers see the old content or one whole new content, never a 404 or a mixture.
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let s = s.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut seen = 0;
                while !done.load(Ordering::Acquire) || seen < 5 {
                    let r = s.get(&path("race.bin"), &ANON);
                    assert_eq!(r.status, 200, "{}", r.describe());
                    assert_eq!(r.body.len(), 100_000);
                    let first = r.body[0];
                    assert!(r.body.iter().all(|&b| b == first), "mixed content");
                    seen += 1;
                }
            })
        })
        .collect();
    let barrier = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = bodies
        .iter()
        .cloned()
        .map(|body| {
            let s = s.clone();
            let tag = tag.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let r = s.request(
                    "PUT",
                    &path("race.bin"),
                    &user2(),
                    &[("If-Match", &tag)],
                    Some(&body),
                );
                (r.status, body[0])
            })
        })
        .collect();
    let results: Vec<(u16, u8)> = handles
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect();
    done.store(true, Ordering::Release);
    for r in readers {
        r.join().expect("reader");
    }
    let winners: Vec<u8> = results
        .iter()
        .filter(|(st, _)| *st == 200)
        .map(|(_, b)| *b)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results.iter().all(|(st, _)| *st == 200 || *st == 412),
        "{results:?}"
    );
    let got = s.get(&path("race.bin"), &ANON);
    assert_eq!(got.body, vec![winners[0]; 100_000]);
    assert_eq!(s.stored_package_files(OWNER, "app", "1.0").len(), 1);
}

/// Replaces of different files that each fit the owner's size limit but together exceed it,
/// all at once: exactly as many succeed as the limit allows.
fn concurrent_replaces_respect_the_size_limit(backend: Backend) {
    // Ten files of 1 byte against a limit of 20; each replace grows one to 6 bytes (+5):
    // two fit, the third would make 25.
    let s = Arc::new(TestServer::start_with(backend, |c| {
        c.limits.total_owner_size = packages_core::Limit::AtMost(20)
    }));
    with_user2(&s);
    let files: Vec<String> = (0..10).map(|i| format!("q{i}.bin")).collect();
    for f in &files {
        status(&s.put(&path(f), b"a", &user2()), 201);
    }
    let tags: Vec<String> = files.iter().map(|f| etag(&s, f)).collect();
    let barrier = Arc::new(Barrier::new(files.len()));
    let handles: Vec<_> = files
        .iter()
        .cloned()
        .zip(tags)
        .map(|(file, tag)| {
            let (s, barrier) = (s.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                put_if(&s, &file, ("If-Match", &tag), b"bbbbbb").status
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // At most two win; fewer when a winner committed before the others' early check of the
    // remaining quota (which does not count the replaced file's size) refused them.
    let winners = statuses.iter().filter(|&&st| st == 200).count();
    assert!((1..=2).contains(&winners), "{statuses:?}");
    assert!(
        statuses.iter().all(|&st| st == 200 || st == 403),
        "{statuses:?}"
    );
    let owner = s.owner_id(OWNER).expect("owner");
    assert_eq!(
        s.db().owner_usage(owner).expect("usage"),
        (1, 10 + 5 * winners as u64)
    );
}

fn replace_can_be_forbidden(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.packages.allow_replace = false);
    with_user2(&s);
    status(&s.put(&path("f"), b"one", &user2()), 201);
    let tag = etag(&s, "f");
    let r = put_if(&s, "f", ("If-Match", &tag), b"two");
    status_text(&r, 403, "replacing files is not allowed");
    let r = put_if(&s, "f", ("If-Match", &tag), &vec![7u8; 100_000]);
    status_text(&r, 403, "replacing files is not allowed");
    assert_eq!(s.get(&path("f"), &ANON).body, b"one");
    // Conditional creation still works.
    status(&put_if(&s, "g", ("If-None-Match", "*"), b"x"), 201);
    status(&put_if(&s, "g", ("If-None-Match", "*"), b"x"), 412);
    // The server's setting is a ceiling an owner cannot lift.
    let r = edit_settings(&s, OWNER, &user2(), r#"{"allow_replace": true}"#);
    status(&r, 200);
    assert_eq!(r.json()["effective_allow_replace"], false);
    status_text(
        &put_if(&s, "f", ("If-Match", &tag), b"two"),
        403,
        "replacing files is not allowed",
    );
}

fn settings_path(owner: &str) -> String {
    format!("/api/v1/packages/{owner}/-/settings")
}

fn edit_settings(s: &TestServer, owner: &str, auth: &Auth, body: &str) -> forge_e2e::Resp {
    s.request(
        "PATCH",
        &settings_path(owner),
        auth,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
}

/// An owner makes its namespace immutable: replacing is refused until it says otherwise;
/// only the owner's admins see or change the setting.
fn owners_can_forbid_replacing(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    s.create_user("mallory", PASSWORD, false);
    s.create_user("root", PASSWORD, true);
    s.create_user_with_visibility("hidden", PASSWORD, Visibility::Private);
    let mallory = Auth::basic("mallory", PASSWORD);
    status(&s.put(&path("f"), b"one", &user2()), 201);

    let r = s.get(&settings_path(OWNER), &user2());
    status(&r, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"allow_replace": null, "effective_allow_replace": true})
    );
    // Others: 401 without credentials, 403 on an owner they can see, 404 on one they cannot.
    status(&s.get(&settings_path(OWNER), &ANON), 401);
    status(&s.get(&settings_path(OWNER), &mallory), 403);
    status(
        &edit_settings(&s, OWNER, &mallory, r#"{"allow_replace": false}"#),
        403,
    );
    // An owner they cannot see does not exist for them.
    status(&s.get(&settings_path("hidden"), &mallory), 404);
    status(&s.get(&settings_path("nobody"), &user2()), 404);
    // Malformed changes are refused.
    status(
        &edit_settings(&s, OWNER, &user2(), r#"{"allow_replace": "no"}"#),
        400,
    );
    status(
        &edit_settings(&s, OWNER, &user2(), r#"{"immutable": true}"#),
        400,
    );

    let r = edit_settings(&s, OWNER, &user2(), r#"{"allow_replace": false}"#);
    status(&r, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"allow_replace": false, "effective_allow_replace": false})
    );
    let tag = etag(&s, "f");
    for body in [&b"two"[..], &vec![7u8; 100_000][..]] {
        let r = put_if(&s, "f", ("If-Match", &tag), body);
        status_text(&r, 403, "replacing files is not allowed in this namespace");
    }
    assert_eq!(s.get(&path("f"), &ANON).body, b"one");
    // New files still upload.
    status(&s.put(&path("g"), b"new", &user2()), 201);
    // An absent field changes nothing; a site admin may change any owner's settings.
    let r = edit_settings(&s, OWNER, &user2(), "{}");
    assert_eq!(r.json()["allow_replace"], false);
    let r = edit_settings(
        &s,
        OWNER,
        &Auth::basic("root", PASSWORD),
        r#"{"allow_replace": null}"#,
    );
    status(&r, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"allow_replace": null, "effective_allow_replace": true})
    );
    status(&put_if(&s, "f", ("If-Match", &tag), b"two"), 200);
    assert_eq!(s.get(&path("f"), &ANON).body, b"two");

    // An organisation's owners decide for it; its other members cannot.
    s.create_org("acme", Visibility::Public, OWNER);
    let r = edit_settings(&s, "acme", &user2(), r#"{"allow_replace": false}"#);
    status(&r, 200);
    assert_eq!(r.json()["effective_allow_replace"], false);
    status(&s.get(&settings_path("acme"), &mallory), 403);
}

forge_e2e::backends!(
    conditional_uploads,
    concurrent_replace,
    concurrent_replaces_respect_the_size_limit,
    replace_can_be_forbidden,
    owners_can_forbid_replacing
);

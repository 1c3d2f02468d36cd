//! Three `forge-server serve` processes on one PostgreSQL database and one data directory
//! behave as one registry: a change made through one instance is seen by the others within
//! a second, races spread over instances have one winner, limits hold, a killed instance
//! leaves nothing half-written and three sweeps at once keep referenced content. The race,
//! the kill and the sweeps run again with one SeaweedFS bucket instead of the shared
//! directory (`…_postgres_s3`). (On SQLite, which one process serves, the scenarios that
//! make sense run on a single instance.)

use std::io::Write;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use forge_e2e::cluster::{Cluster, Instance};
use forge_e2e::{file_path, run_scenario, sha256_hex, wait_until, Auth, Backend, ANON, PASSWORD};

use crate::common::*;

/// How soon another instance must see a change.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(1);

/// Three instances on PostgreSQL.
fn three(env: &[(&str, &str)]) -> Cluster {
    Cluster::start(Backend::Postgres, 3, env)
}

/// Three instances on PostgreSQL and, with `Backend::S3`, one bucket.
fn three_on(store: Backend, env: &[(&str, &str)]) -> Cluster {
    Cluster::start(store, 3, env)
}

/// Runs a scenario with the content in one bucket shared by the instances.
fn on_bucket(scenario: fn(Backend)) {
    if forge_e2e::s3::seaweed_or_skip().is_some() {
        scenario(Backend::S3);
        forge_e2e::append_marker("FORGE_TEST_S3_MARKER", "cluster");
    }
}

/// Runs `request` on instances 1 and 2 until `refused` holds for both, and returns how long
/// that took after the change (made through instance 0) was answered.
#[track_caller]
fn seen_by_the_others(
    c: &Cluster,
    what: &str,
    request: impl Fn(&Instance) -> u16,
    refused: impl Fn(u16) -> bool,
) -> Duration {
    let changed = Instant::now();
    let mut pending = vec![1, 2];
    while !pending.is_empty() {
        pending.retain(|&i| !refused(request(c.at(i))));
        if changed.elapsed() > PROPAGATION_LIMIT {
            panic!(
                "{what}: instances {pending:?} still answer as before after {PROPAGATION_LIMIT:?}"
            );
        }
    }
    let delay = changed.elapsed();
    println!("{what}: seen by every instance after {delay:?}");
    delay
}

/// Asks every instance a few times, so each caches what the request reads.
fn warm(c: &Cluster, request: impl Fn(&Instance) -> u16, expected: u16) {
    for i in 0..3 {
        for _ in 0..3 {
            assert_eq!(request(c.at(i)), expected, "warming instance {i}");
        }
    }
}

/// Every kind of change that cached reads depend on, made through instance 0, is seen by
/// instances 1 and 2 within a second.
fn changes_reach_every_instance(_: Backend) {
    // A time-to-live far beyond the limit: only the change feed can make the others see.
    let c = three(&[("FORGE_READ_CACHE_TTL_MS", "600000")]);
    c.create_user("root", PASSWORD, true);
    c.create_user("dev", PASSWORD, false);
    c.create_user("boss", PASSWORD, false);
    let root = Auth::basic("root", PASSWORD);
    let dev = Auth::basic("dev", PASSWORD);
    let boss = Auth::basic("boss", PASSWORD);
    let mut delays = Vec::new();

    // A deleted token.
    let token = Auth::token(&c.token("dev", "ci", "write:package,read:user"));
    let a = file_path("dev", "app", "1.0", "a.bin");
    status(&c.at(0).put(&a, b"a", &token), 201);
    let tokened = |i: &Instance| i.get("/api/v1/user", &token).status;
    warm(&c, tokened, 200);
    status(&c.at(0).delete("/api/v1/users/dev/tokens/ci", &dev), 204);
    delays.push(seen_by_the_others(&c, "token deleted", tokened, |s| {
        s == 401
    }));

    // A changed password: the old one stops working, the new one works.
    let as_dev = |i: &Instance| i.get("/api/v1/user", &dev).status;
    warm(&c, as_dev, 200);
    let edit = |body: &str| {
        status(
            &c.at(0)
                .json("PATCH", "/api/v1/admin/users/dev", &root, body),
            200,
        )
    };
    edit(r#"{"password":"another-password"}"#);
    delays.push(seen_by_the_others(&c, "password changed", as_dev, |s| {
        s == 401
    }));
    let dev = Auth::basic("dev", "another-password");
    let as_dev = |i: &Instance| i.get("/api/v1/user", &dev).status;
    warm(&c, as_dev, 200);

    // A private owner: anonymous readers lose access.
    let anon_read = |i: &Instance| i.get(&a, &ANON).status;
    warm(&c, anon_read, 200);
    edit(r#"{"visibility":"private"}"#);
    delays.push(seen_by_the_others(
        &c,
        "visibility changed",
        anon_read,
        |s| s == 401,
    ));

    // A deactivated account (the API says 403 to an account that may not sign in).
    edit(r#"{"active":false}"#);
    delays.push(seen_by_the_others(&c, "user deactivated", as_dev, |s| {
        s == 403
    }));
    edit(r#"{"active":true}"#);
    delays.push(seen_by_the_others(&c, "user reactivated", as_dev, |s| {
        s == 200
    }));

    // Team membership and units: joining a team with write on packages lets dev upload into
    // the organisation everywhere; leaving it takes that away.
    status(
        &c.at(0).json(
            "POST",
            "/api/v1/orgs",
            &boss,
            r#"{"username":"acme","visibility":"private"}"#,
        ),
        201,
    );
    let team = c.at(0).json(
        "POST",
        "/api/v1/orgs/acme/teams",
        &boss,
        r#"{"name":"builders","permission":"write","units":["repo.packages"]}"#,
    );
    status(&team, 201);
    let team_id = team.json()["id"].as_i64().expect("team id");
    let org_file = file_path("acme", "lib", "1", "a");
    status(&c.at(0).put(&org_file, b"lib", &boss), 201);
    let org_read = |i: &Instance| i.get(&org_file, &dev).status;
    warm(&c, org_read, 401);
    let member = format!("/api/v1/teams/{team_id}/members/dev");
    status(&c.at(0).request("PUT", &member, &boss, &[], None), 204);
    delays.push(seen_by_the_others(&c, "team member added", org_read, |s| {
        s == 200
    }));
    warm(&c, org_read, 200);
    status(&c.at(0).delete(&member, &boss), 204);
    delays.push(seen_by_the_others(
        &c,
        "team member removed",
        org_read,
        |s| s == 401,
    ));

    // Deleted files, versions and packages.
    let dev_files: Vec<String> = ["b", "c", "d"]
        .iter()
        .map(|v| file_path("dev", "app", &format!("2.{v}"), "f.bin"))
        .collect();
    for path in &dev_files {
        status(&c.at(0).put(path, b"content", &dev), 201);
    }
    let reads = |path: &str| {
        let path = path.to_owned();
        let dev = dev.clone();
        move |i: &Instance| i.get(&path, &dev).status
    };
    warm(&c, reads(&dev_files[0]), 200);
    status(&c.at(0).delete(&dev_files[0], &dev), 204);
    delays.push(seen_by_the_others(
        &c,
        "file deleted",
        reads(&dev_files[0]),
        |s| s == 404,
    ));
    warm(&c, reads(&dev_files[1]), 200);
    status(
        &c.at(0).delete("/api/v1/packages/dev/generic/app/2.c", &dev),
        204,
    );
    delays.push(seen_by_the_others(
        &c,
        "version deleted",
        reads(&dev_files[1]),
        |s| s == 404,
    ));
    warm(&c, reads(&dev_files[2]), 200);
    status(
        &c.at(0).delete("/api/v1/packages/dev/generic/app", &dev),
        204,
    );
    delays.push(seen_by_the_others(
        &c,
        "package deleted",
        reads(&dev_files[2]),
        |s| s == 404,
    ));

    delays.sort();
    println!(
        "cross-instance delay over {} changes: median {:?}, max {:?}",
        delays.len(),
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
}

/// Reads are cached (a change nobody announces stays unseen), and when an instance's feed
/// connection breaks it drops what it cached: once the feed is back, the next request reads
/// afresh.
fn a_broken_feed_flushes_the_cache(_: Backend) {
    let c = three(&[("FORGE_READ_CACHE_TTL_MS", "600000")]);
    c.create_user("dev", PASSWORD, false);
    let dev = Auth::basic("dev", PASSWORD);
    let a = file_path("dev", "app", "1.0", "a.bin");
    status(&c.at(0).put(&a, b"a", &dev), 201);
    let anon_read = |i: &Instance| i.get(&a, &ANON).status;
    // Each instance caches once its feed is connected; until then every read is fresh.
    for i in 0..3 {
        assert!(wait_until(Duration::from_secs(10), || {
            anon_read(c.at(i)) == 200 && anon_read(c.at(i)) == 200
        }));
    }
    let owner = c.db().user_by_name("dev").unwrap().unwrap().id;
    c.db().make_private_unannounced(owner).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..3 {
        assert_eq!(
            anon_read(c.at(i)),
            200,
            "instance {i} answers from its cache"
        );
    }
    let ended = c.db().end_change_feed_connections().unwrap();
    assert_eq!(ended, 3, "one feed connection per instance");
    for i in 0..3 {
        assert!(
            wait_until(Duration::from_secs(5), || anon_read(c.at(i)) == 401),
            "instance {i} still serves what it cached before its feed broke"
        );
    }
    // The feeds come back.
    assert!(wait_until(Duration::from_secs(10), || {
        c.db().change_feed_connections().unwrap() == 3
    }));
}

/// Twenty clients put the same new file through three instances: one 201, the rest 409.
fn same_file_race_over_instances(store: Backend) {
    let c = Arc::new(three_on(store, &[]));
    c.create_user("racer", PASSWORD, false);
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let (c, barrier) = (c.clone(), barrier.clone());
            std::thread::spawn(move || {
                let auth = Auth::basic("racer", PASSWORD);
                barrier.wait();
                c.at(i)
                    .put(
                        &file_path("racer", "race", "1.0", "same.bin"),
                        b"same",
                        &auth,
                    )
                    .status
            })
        })
        .collect();
    let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        19,
        "{statuses:?}"
    );
}

/// Twenty concurrent uploads that together exceed the owner's size limit, then twenty that
/// exceed the version-count limit, spread over the instances: exactly as many succeed as
/// the limits allow.
fn limits_hold_under_concurrent_uploads(backend: Backend) {
    let c = Arc::new(Cluster::start(
        backend,
        3,
        &[
            ("FORGE_LIMIT_TOTAL_OWNER_SIZE", "55"),
            ("FORGE_LIMIT_TOTAL_OWNER_COUNT", "8"),
        ],
    ));
    c.create_user("quota", PASSWORD, false);
    let race = |name: &'static str, content: fn(usize) -> Vec<u8>| -> (usize, usize) {
        let barrier = Arc::new(Barrier::new(20));
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let (c, barrier) = (c.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let auth = Auth::basic("quota", PASSWORD);
                    let path = file_path("quota", name, &format!("1.{i}"), "f.bin");
                    barrier.wait();
                    c.at(i).put(&path, &content(i), &auth).status
                })
            })
            .collect();
        let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let created = statuses.iter().filter(|&&s| s == 201).count();
        let refused = statuses.iter().filter(|&&s| s == 403).count();
        (created, refused)
    };
    // Ten bytes each against 55: five fit.
    assert_eq!(race("sized", |i| format!("{i:010}").into_bytes()), (5, 15));
    // One byte each: three more versions reach the limit of eight.
    assert_eq!(race("counted", |_| b"x".to_vec()), (3, 17));
    let owner = c.db().user_by_name("quota").unwrap().unwrap().id;
    assert_eq!(c.db().owner_usage(owner).unwrap(), (8, 53));
}

/// `kill -9` of one instance while uploads run through all three: every upload answered 201
/// downloads intact from the survivors, nothing of the cut uploads is visible (no version,
/// no stored content; on a bucket their multipart uploads are under way when the process
/// dies), and the others keep serving.
fn killed_instance_leaves_nothing_partial(store: Backend) {
    let c = three_on(store, &[]);
    c.create_user("dev", PASSWORD, false);
    let dev = Auth::basic("dev", PASSWORD);
    let body: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    // Uploads cut short inside instance 0: headers and 9 of 12 MiB sent, more than one
    // part of a multipart upload.
    let cut_body: Vec<u8> = (0..12 << 20u32).map(|i| (i % 253) as u8).collect();
    let mut cut = Vec::new();
    for i in 0..5 {
        let path = file_path("dev", "cut", &format!("1.{i}"), "f.bin");
        let mut stream = c.at(0).connect();
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
            dev.header_value().unwrap(),
            cut_body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&cut_body[..9 << 20]).unwrap();
        cut.push((path, stream));
    }
    // Meanwhile complete uploads through the others.
    let c = Arc::new(std::sync::Mutex::new(c));
    let uploader = {
        let c = c.clone();
        let body = body.clone();
        let dev = dev.clone();
        std::thread::spawn(move || {
            let mut done = Vec::new();
            for i in 0..30 {
                let path = file_path("dev", "kept", &format!("1.{i}"), "f.bin");
                let instance = 1 + i % 2;
                let status = {
                    let c = c.lock().unwrap();
                    c.at(instance).put(&path, &body, &dev).status
                };
                assert_eq!(status, 201, "upload {i} through instance {instance}");
                done.push(path);
            }
            done
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    c.lock().unwrap().instances[0].kill();
    let done = uploader.join().unwrap();
    drop(cut);
    let c = Arc::try_unwrap(c).ok().unwrap().into_inner().unwrap();
    let sha = sha256_hex(&body);
    for path in &done {
        for i in 1..3 {
            let r = c.at(i).get(path, &dev);
            status(&r, 200);
            assert_eq!(sha256_hex(&r.body), sha, "{path} through instance {i}");
        }
    }
    let owner = c.db().user_by_name("dev").unwrap().unwrap().id;
    assert_eq!(
        c.db().owner_usage(owner).unwrap().0,
        30,
        "no version of a cut upload"
    );
    for i in 0..5 {
        let path = file_path("dev", "cut", &format!("1.{i}"), "f.bin");
        status(&c.at(1).get(&path, &dev), 404);
    }
    // Every stored key belongs to a row (a duplicate's own object is removed right after
    // its commit, hence the wait).
    let mut left = Vec::new();
    let clean = wait_until(Duration::from_secs(10), || {
        left = c.unreferenced_keys();
        left.is_empty()
    });
    assert!(clean, "content no row refers to: {left:?}");
    assert!(!c.holds(&cut_body[..9 << 20]) && !c.holds(&cut_body));
    println!(
        "unfinished multipart uploads left by the killed instance (aborted by a later sweep): {}",
        c.pending_uploads()
    );
}

/// Three instances sweeping every second with no grace period while files are deleted and
/// the same content is uploaded again: content still referenced is never removed, and
/// content no longer referenced goes.
fn three_sweeps_keep_referenced_content(store: Backend) {
    let c = three_on(
        store,
        &[
            ("FORGE_CLEANUP_INTERVAL", "1"),
            ("FORGE_BLOB_GRACE_PERIOD", "0"),
        ],
    );
    c.create_user("dev", PASSWORD, false);
    let dev = Auth::basic("dev", PASSWORD);
    let content = |i: usize| format!("content number {i}").into_bytes();
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut round = 0;
    while Instant::now() < deadline {
        for i in 0..10 {
            let path = file_path("dev", "churn", &format!("{round}.{i}"), "f.bin");
            status(&c.at(i).put(&path, &content(i), &dev), 201);
        }
        // Delete last round's files: their content is unreferenced until this round's
        // uploads of the same bytes take it again.
        if round > 0 {
            for i in 0..10 {
                let path = file_path("dev", "churn", &format!("{}.{i}", round - 1), "f.bin");
                status(&c.at(i + 1).delete(&path, &dev), 204);
            }
        }
        for i in 0..10 {
            let path = file_path("dev", "churn", &format!("{round}.{i}"), "f.bin");
            let r = c.at(i + 2).get(&path, &dev);
            status(&r, 200);
            assert_eq!(r.body, content(i), "{path}");
        }
        round += 1;
    }
    // Unreferenced content goes once nothing takes it again (looked for by its bytes, so
    // whatever the store's layout).
    let unreferenced = b"soon unreferenced, then gone";
    let gone = file_path("dev", "gone", "1", "f.bin");
    status(&c.at(0).put(&gone, unreferenced, &dev), 201);
    status(&c.at(1).delete(&gone, &dev), 204);
    assert!(wait_until(Duration::from_secs(10), || !c.holds(unreferenced)));
    let last = round - 1;
    for i in 0..10 {
        let path = file_path("dev", "churn", &format!("{last}.{i}"), "f.bin");
        let r = c.at(i).get(&path, &dev);
        status(&r, 200);
        assert_eq!(r.body, content(i), "{path} after the sweeps");
    }
}

#[test]
fn changes_reach_every_instance_postgres() {
    run_scenario(
        Backend::Postgres,
        "cluster_changes",
        changes_reach_every_instance,
    );
}

#[test]
fn a_broken_feed_flushes_the_cache_postgres() {
    run_scenario(
        Backend::Postgres,
        "cluster_feed",
        a_broken_feed_flushes_the_cache,
    );
}

#[test]
fn same_file_race_over_instances_postgres() {
    run_scenario(
        Backend::Postgres,
        "cluster_race",
        same_file_race_over_instances,
    );
}

#[test]
fn killed_instance_leaves_nothing_partial_postgres() {
    run_scenario(
        Backend::Postgres,
        "cluster_kill",
        killed_instance_leaves_nothing_partial,
    );
}

#[test]
fn three_sweeps_keep_referenced_content_postgres() {
    run_scenario(
        Backend::Postgres,
        "cluster_sweeps",
        three_sweeps_keep_referenced_content,
    );
}

forge_e2e::backends!(limits_hold_under_concurrent_uploads);

#[test]
fn same_file_race_over_instances_postgres_s3() {
    run_scenario(Backend::Postgres, "cluster_race_s3", |_| {
        on_bucket(same_file_race_over_instances)
    });
}

#[test]
fn killed_instance_leaves_nothing_partial_postgres_s3() {
    run_scenario(Backend::Postgres, "cluster_kill_s3", |_| {
        on_bucket(killed_instance_leaves_nothing_partial)
    });
}

#[test]
fn three_sweeps_keep_referenced_content_postgres_s3() {
    run_scenario(Backend::Postgres, "cluster_sweeps_s3", |_| {
        on_bucket(three_sweeps_keep_referenced_content)
    });
}

//! Package cleanup rules (reference §13 and its rule cases, §16): managed through
//! `/api/v1/packages/{owner}/-/cleanup-rules`, previewed, and applied; the versions a preview
//! lists are exactly those a run removes, and the sweep then frees their content.

use std::collections::BTreeSet;
use std::time::Duration;

use forge_e2e::{file_path, Auth, Backend, Resp, TestServer, ANON, PASSWORD};
use packages_core::{AccessMode, PackageType, Visibility};
use serde_json::{json, Value};

use crate::common::*;

/// user2's rules.
const RULES: &str = "/api/v1/packages/user2/-/cleanup-rules";

fn rule_path(owner: &str, id: i64) -> String {
    format!("/api/v1/packages/{owner}/-/cleanup-rules/{id}")
}

fn patch(s: &TestServer, path: &str, auth: &Auth, body: &Value) -> Resp {
    let body = serde_json::to_vec(body).expect("JSON");
    s.request(
        "PATCH",
        path,
        auth,
        &[("Content-Type", "application/json")],
        Some(&body),
    )
}

/// Asserts a JSON error with the status and a message containing `part`.
#[track_caller]
fn error_with(r: &Resp, expected: u16, part: &str) {
    status(r, expected);
    let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains(part),
        "message {message:?} should contain {part:?}"
    );
}

/// Creates a rule for user2 and returns its id.
#[track_caller]
fn create_rule(s: &TestServer, owner: &str, auth: &Auth, body: Value) -> i64 {
    let r = s.post_json(
        &format!("/api/v1/packages/{owner}/-/cleanup-rules"),
        auth,
        &body,
    );
    status(&r, 201);
    r.json()["id"].as_i64().expect("id")
}

/// Uploads a one-file version whose content is unique to it.
#[track_caller]
fn upload(s: &TestServer, owner: &str, name: &str, version: &str) {
    let body = format!("{owner}/{name}/{version}");
    let r = s.put(
        &file_path(owner, name, version, "f.bin"),
        body.as_bytes(),
        &Auth::basic(owner, PASSWORD),
    );
    status(&r, 201);
}

/// Moves a version's creation `days` into the past.
fn age(s: &TestServer, owner: &str, name: &str, version: &str, days: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let aged = s
        .db()
        .set_version_created(
            s.user_id(owner),
            PackageType::Generic,
            name,
            version,
            now - days * 86_400,
        )
        .expect("age version");
    assert!(aged, "no version {name} {version}");
}

/// `package/version` of each listed entry, as a set.
fn listed(r: &Resp) -> BTreeSet<String> {
    status(r, 200);
    r.json()
        .as_array()
        .expect("array")
        .iter()
        .map(|v| {
            format!(
                "{}/{}",
                v["package"].as_str().unwrap(),
                v["version"].as_str().unwrap()
            )
        })
        .collect()
}

/// `package/version` of each of the owner's stored versions.
fn stored(s: &TestServer, owner: &str) -> BTreeSet<String> {
    s.stored_versions(owner)
        .into_iter()
        .map(|v| format!("{}/{}", v.package_name, v.version))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs `forge-server admin cleanup-rules <args>` against the test server's database.
fn cli(s: &TestServer, args: &[&str]) -> (bool, String, String) {
    let mut all = vec!["cleanup-rules"];
    all.extend_from_slice(args);
    admin(s, &all)
}

fn rules_are_created_checked_changed_and_deleted(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);

    // A new rule takes the defaults for what it leaves out.
    let r = s.post_json(
        RULES,
        &user2(),
        &json!({"type": "generic", "keep_count": 2, "keep_pattern": "k.+p"}),
    );
    status(&r, 201);
    let rule = r.json();
    let id = rule["id"].as_i64().expect("id");
    assert_eq!(rule["type"], "generic");
    assert_eq!(rule["enabled"], false);
    assert_eq!(rule["keep_count"], 2);
    assert_eq!(rule["keep_pattern"], "k.+p");
    assert_eq!(rule["remove_days"], 0);
    assert_eq!(rule["remove_pattern"], "");
    assert_eq!(rule["match_full_name"], false);
    assert!(rule["created"].as_str().unwrap().ends_with('Z'), "{rule}");
    assert_eq!(rule["created"], rule["updated"]);

    // One rule per owner and type.
    error_with(
        &s.post_json(RULES, &user2(), &json!({"type": "generic"})),
        409,
        "exists already",
    );

    // Bad fields are refused with what was wrong, and nothing is stored.
    for (body, part) in [
        (json!({}), "type is required"),
        (json!({"type": "nope"}), "type must be one of: generic"),
        (
            json!({"type": "pypi", "keep_pattern": "("}),
            "keep_pattern is not a valid regular expression",
        ),
        (
            json!({"type": "pypi", "remove_pattern": "a)|(b"}),
            "remove_pattern is not a valid regular expression",
        ),
        (
            json!({"type": "pypi", "remove_pattern": "x".repeat(256)}),
            "remove_pattern must be at most 255 bytes",
        ),
        (json!({"type": "pypi", "keep_count": -1}), "keep_count"),
        (json!({"type": "pypi", "remove_days": 40000}), "remove_days"),
    ] {
        error_with(&s.post_json(RULES, &user2(), &body), 422, part);
    }
    let r = s.request("POST", RULES, &user2(), &[], Some(b"{not json"));
    error_with(&r, 400, "invalid JSON body");
    let r = s.post_json(
        RULES,
        &user2(),
        &json!({"type": "pypi", "keep_count": "many"}),
    );
    error_with(&r, 400, "invalid JSON body");

    let r = s.get(RULES, &user2());
    status(&r, 200);
    let all = r.json();
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    assert_eq!(all[0], rule);
    let r = s.get(&rule_path("user2", id), &user2());
    status(&r, 200);
    assert_eq!(r.json(), rule);

    // PATCH changes what it names and keeps the rest.
    let r = patch(
        &s,
        &rule_path("user2", id),
        &user2(),
        &json!({"enabled": true, "remove_pattern": "t[e]+st-\\d+", "match_full_name": true}),
    );
    status(&r, 200);
    let changed = r.json();
    assert_eq!(changed["enabled"], true);
    assert_eq!(changed["remove_pattern"], "t[e]+st-\\d+");
    assert_eq!(changed["match_full_name"], true);
    assert_eq!(changed["keep_count"], 2);
    assert_eq!(changed["keep_pattern"], "k.+p");
    let r = patch(
        &s,
        &rule_path("user2", id),
        &user2(),
        &json!({"keep_pattern": "[z-a]"}),
    );
    error_with(&r, 422, "keep_pattern");
    assert_eq!(s.get(&rule_path("user2", id), &user2()).json(), changed);
    // Moving the rule onto a type that has one is a conflict.
    let pypi = create_rule(&s, "user2", &user2(), json!({"type": "pypi"}));
    error_with(
        &patch(
            &s,
            &rule_path("user2", pypi),
            &user2(),
            &json!({"type": "generic"}),
        ),
        409,
        "exists already",
    );

    status(&s.delete(&rule_path("user2", id), &user2()), 204);
    error_with(
        &s.get(&rule_path("user2", id), &user2()),
        404,
        "cleanup rule does not exist",
    );
    error_with(
        &s.delete(&rule_path("user2", id), &user2()),
        404,
        "cleanup rule does not exist",
    );
    error_with(
        &s.get(&format!("{RULES}/abc"), &user2()),
        404,
        "cleanup rule does not exist",
    );
    error_with(
        &s.get(&format!("{}/preview", rule_path("user2", id)), &user2()),
        404,
        "cleanup rule does not exist",
    );
    // The routes beside the rules' still answer as before.
    status(&s.get("/api/v1/packages/user2/-/nothing", &user2()), 404);
}

fn only_the_owners_administrators_manage_rules(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    s.create_user("user3", PASSWORD, false);
    s.create_user("root", PASSWORD, true);
    s.create_user("writer", PASSWORD, false);
    s.create_user("orgadmin", PASSWORD, false);
    s.create_user_with_visibility("hidden", PASSWORD, Visibility::Private);
    s.create_org("org", Visibility::Public, "user2");
    s.create_team(
        "org",
        "writers",
        AccessMode::Write,
        AccessMode::Write,
        &["writer"],
    );
    s.create_team(
        "org",
        "admins",
        AccessMode::Admin,
        AccessMode::Admin,
        &["orgadmin"],
    );
    s.create_org("secret", Visibility::Private, "user2");
    let user3 = Auth::basic("user3", PASSWORD);
    let root = Auth::basic("root", PASSWORD);

    let id = create_rule(&s, "user2", &user2(), json!({"type": "generic"}));
    let rule = rule_path("user2", id);
    let preview = format!("{rule}/preview");

    // Signing in comes first.
    for path in [RULES, rule.as_str(), preview.as_str()] {
        status(&s.get(path, &ANON), 401);
    }
    status(&s.post_json(RULES, &ANON, &json!({"type": "pypi"})), 401);

    // Another user sees the owner but may not manage its rules.
    for path in [RULES, rule.as_str(), preview.as_str()] {
        error_with(&s.get(path, &user3), 403, "administrators");
    }
    error_with(
        &s.post_json(RULES, &user3, &json!({"type": "pypi"})),
        403,
        "administrators",
    );
    status(&patch(&s, &rule, &user3, &json!({"enabled": true})), 403);
    status(&s.delete(&rule, &user3), 403);
    assert_eq!(s.get(&rule, &user2()).json()["enabled"], false);

    // Site admins may.
    status(&s.get(RULES, &root), 200);
    status(&patch(&s, &rule, &root, &json!({"keep_count": 5})), 200);

    // In an organisation: its owners and admin teams, not a team with write access.
    let org_rules = "/api/v1/packages/org/-/cleanup-rules";
    let org_rule = create_rule(&s, "org", &user2(), json!({"type": "generic"}));
    status(&s.get(org_rules, &Auth::basic("orgadmin", PASSWORD)), 200);
    status(
        &patch(
            &s,
            &rule_path("org", org_rule),
            &Auth::basic("orgadmin", PASSWORD),
            &json!({"keep_count": 1}),
        ),
        200,
    );
    error_with(
        &s.get(org_rules, &Auth::basic("writer", PASSWORD)),
        403,
        "administrators",
    );

    // A private owner's rules are not found by outsiders, like an owner that does not exist.
    let hidden = s.get("/api/v1/packages/hidden/-/cleanup-rules", &user3);
    let missing = s.get("/api/v1/packages/nobody/-/cleanup-rules", &user3);
    error_with(&hidden, 404, "owner does not exist");
    assert_eq!(hidden.text(), missing.text());
    error_with(
        &s.get("/api/v1/packages/secret/-/cleanup-rules", &user3),
        404,
        "owner does not exist",
    );
    status(
        &s.get("/api/v1/packages/secret/-/cleanup-rules", &root),
        200,
    );

    // A rule is only reachable through its owner's path.
    create_rule(&s, "user3", &user3, json!({"type": "generic"}));
    error_with(
        &s.get(&rule_path("user3", id), &user3),
        404,
        "cleanup rule does not exist",
    );
    error_with(
        &s.delete(&rule_path("org", id), &user2()),
        404,
        "cleanup rule does not exist",
    );

    // Tokens: read:package reads, write:package changes.
    let read = Auth::token(&s.token("user2", "r", "read:package"));
    let write = Auth::token(&s.token("user2", "w", "write:package"));
    let other = Auth::token(&s.token("user2", "u", "read:user"));
    status(&s.get(RULES, &read), 200);
    error_with(
        &patch(&s, &rule, &read, &json!({"keep_count": 2})),
        403,
        "write:package",
    );
    status(&patch(&s, &rule, &write, &json!({"keep_count": 2})), 200);
    error_with(&s.get(RULES, &other), 403, "read:package");
}

/// Forgejo's rule cases on one owner, each previewed and then applied: the preview lists
/// exactly what the run removes, the removed versions are gone, the kept ones download, and
/// the sweep frees the removed versions' content.
fn preview_lists_exactly_what_a_run_removes(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);

    // Mixed settings (keep the newest one, keep `dummy`, remove only after 7 days, remove
    // only `test-N`). Uploaded oldest first, so `keep` is the newest.
    for v in ["test-4", "dummy", "test-3", "keep"] {
        upload(&s, "user2", "package", v);
    }
    age(&s, "user2", "package", "test-4", 30);
    age(&s, "user2", "package", "dummy", 30);
    // Another package of the type: its own newest version is kept by the count.
    for v in ["test-1", "test-2"] {
        upload(&s, "user2", "other", v);
        age(&s, "user2", "other", v, 10);
    }
    let id = create_rule(
        &s,
        "user2",
        &user2(),
        json!({"type": "generic", "keep_count": 1, "keep_pattern": "dummy",
               "remove_days": 7, "remove_pattern": "t[e]+st-\\d+"}),
    );
    let preview = format!("{}/preview", rule_path("user2", id));
    let r = s.get(&preview, &user2());
    let expected = set(&["package/test-4", "other/test-1"]);
    assert_eq!(listed(&r), expected, "{}", r.text());
    let entry = r.json()[0].clone();
    assert_eq!(entry["type"], "generic");
    assert!(entry["created"].as_str().unwrap().ends_with('Z'), "{entry}");
    // A preview changes nothing, and a disabled rule is not applied by a run of all rules.
    let (ok, out, err) = cli(&s, &["run"]);
    assert!(ok, "{err}");
    assert!(out.contains("removed 0 versions"), "{out}");
    assert_eq!(stored(&s, "user2").len(), 6);

    // Running this rule removes exactly the previewed versions.
    let (ok, out, err) = cli(&s, &["run", "--id", &id.to_string()]);
    assert!(ok, "{err}");
    assert!(out.contains("removed 2 versions"), "{out}");
    assert!(out.contains("generic package test-4"), "{out}");
    assert_eq!(
        stored(&s, "user2"),
        set(&[
            "package/keep",
            "package/dummy",
            "package/test-3",
            "other/test-2"
        ])
    );
    status(
        &s.get(&file_path("user2", "package", "test-4", "f.bin"), &user2()),
        404,
    );
    status(
        &s.get(&file_path("user2", "other", "test-1", "f.bin"), &user2()),
        404,
    );
    let r = s.get(&file_path("user2", "package", "dummy", "f.bin"), &user2());
    status(&r, 200);
    assert_eq!(r.body, b"user2/package/dummy");
    assert!(listed(&s.get(&preview, &user2())).is_empty());

    // The sweep frees the removed versions' content (each version's was its own).
    let blobs = s.blob_count();
    let store = packages_storage::LocalBlobStore::open(s.packages_dir()).expect("store");
    let report = forge_server::sweep::run_once(s.db(), &store, Duration::ZERO).expect("sweep");
    assert_eq!(report.blobs_removed, 2, "{report:?}");
    assert_eq!(s.blob_count(), blobs - 2);

    // Full names: the pattern sees `package/version`, across packages.
    for (name, v) in [
        ("package", "test"),
        ("different", "keep"),
        ("different", "test"),
    ] {
        upload(&s, "user2", name, v);
    }
    status(
        &patch(
            &s,
            &rule_path("user2", id),
            &user2(),
            &json!({"keep_count": 0, "keep_pattern": "", "remove_days": 0,
                    "remove_pattern": "package/test|different/keep", "match_full_name": true}),
        ),
        200,
    );
    let previewed = listed(&s.get(&preview, &user2()));
    assert_eq!(previewed, set(&["package/test", "different/keep"]));
    let before = stored(&s, "user2");
    let (ok, out, err) = cli(&s, &["run", "--id", &id.to_string()]);
    assert!(ok, "{err}");
    assert_eq!(
        before
            .difference(&stored(&s, "user2"))
            .cloned()
            .collect::<BTreeSet<_>>(),
        previewed,
        "{out}"
    );

    // Without patterns and days, the count alone decides: every package keeps its newest.
    status(
        &patch(
            &s,
            &rule_path("user2", id),
            &user2(),
            &json!({"keep_count": 1, "remove_pattern": "", "match_full_name": false}),
        ),
        200,
    );
    let previewed = listed(&s.get(&preview, &user2()));
    let before = stored(&s, "user2");
    let (ok, _, err) = cli(&s, &["run", "--id", &id.to_string()]);
    assert!(ok, "{err}");
    let after = stored(&s, "user2");
    assert_eq!(
        before.difference(&after).cloned().collect::<BTreeSet<_>>(),
        previewed
    );
    assert_eq!(
        after,
        set(&["package/keep", "different/test", "other/test-2"])
    );
}

/// Every `admin cleanup-rules` command, through the real binary, with the API's checks.
fn rules_through_the_command_line(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    for v in ["1", "2", "3"] {
        upload(&s, "user2", "app", v);
    }

    let (ok, out, err) = cli(
        &s,
        &[
            "add",
            "--owner",
            "user2",
            "--type",
            "generic",
            "--keep-count",
            "1",
            "--remove-pattern",
            "[12]",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("added cleanup rule"), "{out}");
    let rules = s.get(RULES, &user2());
    status(&rules, 200);
    let rule = rules.json()[0].clone();
    let id = rule["id"].as_i64().expect("id").to_string();
    assert_eq!(rule["keep_count"], 1);
    assert_eq!(rule["remove_pattern"], "[12]");
    assert_eq!(rule["enabled"], false);

    let (ok, out, err) = cli(&s, &["list", "--owner", "user2"]);
    assert!(ok, "{err}");
    let line = out.lines().nth(1).unwrap_or_default();
    assert!(
        line.starts_with(&id) && line.contains("generic") && line.contains("[12]"),
        "{out}"
    );

    // The API's checks, with the API's words.
    for (args, message) in [
        (
            vec!["add", "--owner", "user2", "--type", "generic"],
            "exists already",
        ),
        (
            vec!["add", "--owner", "user2", "--type", "nope"],
            "type must be one of",
        ),
        (
            vec!["add", "--owner", "nobody", "--type", "generic"],
            "\"nobody\" does not exist",
        ),
        (
            vec!["edit", "--id", id.as_str(), "--keep-pattern", "("],
            "keep_pattern is not a valid regular expression",
        ),
        (
            vec!["edit", "--id", "999999", "--enabled", "true"],
            "cleanup rule does not exist",
        ),
        (
            vec!["preview", "--id", "999999"],
            "cleanup rule does not exist",
        ),
    ] {
        let (ok, _, err) = cli(&s, &args);
        assert!(!ok, "{args:?} was accepted");
        assert!(err.contains(message), "{args:?}: {err}");
    }

    let (ok, _, err) = cli(
        &s,
        &[
            "edit",
            "--id",
            &id,
            "--enabled",
            "true",
            "--keep-count",
            "0",
        ],
    );
    assert!(ok, "{err}");
    let rule = s
        .get(&rule_path("user2", id.parse().unwrap()), &user2())
        .json();
    assert_eq!(rule["enabled"], true);
    assert_eq!(rule["keep_count"], 0);
    assert_eq!(rule["remove_pattern"], "[12]");

    let (ok, out, err) = cli(&s, &["preview", "--id", &id]);
    assert!(ok, "{err}");
    assert!(out.contains("generic app 1 (created "), "{out}");
    assert!(out.contains("generic app 2 (created "), "{out}");
    assert!(out.contains("would remove 2 versions"), "{out}");
    assert_eq!(stored(&s, "user2").len(), 3);

    // `run` alone applies the enabled rules, as the job does.
    let (ok, out, err) = cli(&s, &["run"]);
    assert!(ok, "{err}");
    assert!(out.contains("applied 1 rules, removed 2 versions"), "{out}");
    assert_eq!(stored(&s, "user2"), set(&["app/3"]));

    let (ok, out, err) = cli(&s, &["remove", "--id", &id]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("removed cleanup rule {id}")), "{out}");
    status(
        &s.get(&rule_path("user2", id.parse().unwrap()), &user2()),
        404,
    );
    let (ok, _, err) = cli(&s, &["remove", "--id", &id]);
    assert!(!ok);
    assert!(err.contains("cleanup rule does not exist"), "{err}");
}

/// The background job applies enabled rules on its interval, leaves disabled ones alone and
/// counts what it removed in the job metrics.
fn the_job_applies_enabled_rules(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.cleanup.rules_interval = Duration::from_secs(1);
    });
    with_user2(&s);
    s.create_user("user3", PASSWORD, false);
    for owner in ["user2", "user3"] {
        for v in ["1", "2", "3"] {
            upload(&s, owner, "app", v);
        }
    }
    create_rule(
        &s,
        "user2",
        &user2(),
        json!({"type": "generic", "enabled": true, "keep_count": 1}),
    );
    create_rule(
        &s,
        "user3",
        &Auth::basic("user3", PASSWORD),
        json!({"type": "generic", "keep_count": 1}),
    );
    assert!(
        forge_e2e::wait_until(Duration::from_secs(20), || stored(&s, "user2").len() == 1),
        "the job did not apply the rule: {:?}",
        stored(&s, "user2")
    );
    assert_eq!(stored(&s, "user2"), set(&["app/3"]));
    status(&s.get(&file_path("user2", "app", "3", "f.bin"), &ANON), 200);
    status(&s.get(&file_path("user2", "app", "1", "f.bin"), &ANON), 404);
    // Another run or two later the disabled rule has still removed nothing.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(stored(&s, "user3").len(), 3);
    let metrics = s.get("/metrics", &ANON).text();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("forge_job_removed_items_total{job=\"cleanup-rules\"} 2")),
        "{metrics}"
    );
}

forge_e2e::backends!(
    rules_through_the_command_line,
    the_job_applies_enabled_rules,
    rules_are_created_checked_changed_and_deleted,
    only_the_owners_administrators_manage_rules,
    preview_lists_exactly_what_a_run_removes,
);

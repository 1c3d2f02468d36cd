//! The admin command line reads passwords from standard input or the environment, and
//! creates users and tokens with the same rules as the API.

use std::io::Write;
use std::process::Stdio;

use crate::config::forge;

fn user_create(
    data: &std::path::Path,
    name: &str,
    email: &str,
    extra: &[&str],
) -> std::process::Command {
    let mut cmd = forge(&[
        "admin",
        "user",
        "create",
        "--username",
        name,
        "--email",
        email,
    ]);
    cmd.args(extra)
        .env("FORGE_DATA_DIR", data)
        .env("FORGE_BCRYPT_COST", "4");
    cmd
}

#[test]
fn passwords_from_stdin_or_environment_and_api_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");

    let mut child = user_create(&data, "stdin-user", "s@example.com", &["--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"from-stdin-1\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = user_create(
        &data,
        "env-user",
        "e@example.com",
        &["--password-env", "NEW_PASSWORD"],
    )
    .env("NEW_PASSWORD", "from-env-12")
    .output()
    .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No password source and no terminal: refused with the options to use.
    let out = user_create(&data, "none-user", "n@example.com", &[])
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));

    // The e-mail address is unique, as through the API.
    let out = user_create(
        &data,
        "other",
        "S@example.com",
        &["--password", "another-pass"],
    )
    .output()
    .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("e-mail already in use"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The passwords work: a token needs none, but change-password takes stdin too.
    let mut child = forge(&[
        "admin",
        "user",
        "change-password",
        "--username",
        "env-user",
        "--password-stdin",
    ])
    .env("FORGE_DATA_DIR", &data)
    .env("FORGE_BCRYPT_COST", "4")
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"changed-pass-3\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let generate = || {
        forge(&[
            "admin",
            "user",
            "generate-access-token",
            "--username",
            "env-user",
            "--token-name",
            "t",
            "--scopes",
            "write:package",
        ])
        .env("FORGE_DATA_DIR", &data)
        .output()
        .expect("run")
    };
    assert!(generate().status.success());
    let again = generate();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("access token name has been used already")
    );
}

/// `admin org create` creates organisations with the rules of `POST /api/v1/orgs`: the
/// named user becomes an owner, and taken or invalid names are refused with the API's words.
fn org_create_follows_the_api_rules(backend: forge_e2e::Backend) {
    use crate::common::{admin, status};
    let s = forge_e2e::TestServer::start(backend);
    s.create_user("alice", forge_e2e::PASSWORD, false);
    let alice = forge_e2e::Auth::basic("alice", forge_e2e::PASSWORD);

    let (ok, out, err) = admin(
        &s,
        &["org", "create", "--name", "team-a", "--owner", "alice"],
    );
    assert!(ok, "{err}");
    assert!(out.contains("created organisation team-a"), "{out}");
    let r = s.get("/api/v1/orgs/team-a", &alice);
    status(&r, 200);
    assert_eq!(r.json()["visibility"], "public");
    // alice owns it: she may manage its package settings.
    status(
        &s.get("/api/v1/packages/team-a/-/cleanup-rules", &alice),
        200,
    );

    let (ok, out, err) = admin(
        &s,
        &[
            "org",
            "create",
            "--name",
            "hidden-b",
            "--owner",
            "alice",
            "--visibility",
            "private",
        ],
    );
    assert!(ok, "{out}{err}");
    status(&s.get("/api/v1/orgs/hidden-b", &forge_e2e::ANON), 404);

    for (name, message) in [
        ("TEAM-A", "user already exists [name: TEAM-A]"),
        ("ALICE", "user already exists [name: ALICE]"),
        ("bad name", "invalid"),
    ] {
        let (ok, _, err) = admin(&s, &["org", "create", "--name", name, "--owner", "alice"]);
        assert!(!ok, "{name} was accepted");
        assert!(
            err.to_lowercase().contains(&message.to_lowercase()),
            "{name}: {err}"
        );
    }
    let (ok, _, err) = admin(&s, &["org", "create", "--name", "c", "--owner", "nobody"]);
    assert!(!ok);
    assert!(err.contains("user \"nobody\" does not exist"), "{err}");
}

forge_e2e::backends!(org_create_follows_the_api_rules);

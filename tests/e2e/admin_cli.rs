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

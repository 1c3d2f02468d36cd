//! The real `forge-server` executable: migrate, admin commands, serve, and a clean SIGTERM.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use forge_e2e::{free_port, server_binary, wait_until, Auth, Backend, PgDatabase};

fn forge(data_dir: &Path, database_url: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(server_binary());
    cmd.args(args)
        .env("FORGE_DATA_DIR", data_dir)
        .env("FORGE_BCRYPT_COST", "4")
        .env_remove("FORGE_LISTEN")
        .env_remove("FORGE_REQUIRE_SIGNIN_VIEW");
    if database_url.is_empty() {
        cmd.env_remove("FORGE_DATABASE_URL");
    } else {
        cmd.env("FORGE_DATABASE_URL", database_url);
    }
    cmd
}

#[track_caller]
fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run forge-server");
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Kills the server if the test fails before it has been stopped.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn binary_end_to_end(backend: Backend) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let pg = (backend == Backend::Postgres).then(PgDatabase::create);
    let url = pg.as_ref().map(|p| p.url().to_owned()).unwrap_or_default();

    run_ok(&mut forge(&data, &url, &["migrate"]));
    // Migrating twice is harmless.
    run_ok(&mut forge(&data, &url, &["migrate"]));
    run_ok(&mut forge(
        &data,
        &url,
        &[
            "admin",
            "user",
            "create",
            "--username",
            "u",
            "--password",
            "password1",
            "--email",
            "u@example.com",
        ],
    ));
    let out = run_ok(&mut forge(
        &data,
        &url,
        &[
            "admin",
            "user",
            "generate-access-token",
            "--username",
            "u",
            "--token-name",
            "t",
            "--scopes",
            "write:package",
        ],
    ));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    run_ok(&mut forge(
        &data,
        &url,
        &[
            "admin",
            "org",
            "create",
            "--name",
            "team-u",
            "--owner",
            "u",
            "--visibility",
            "limited",
        ],
    ));
    let listed = run_ok(&mut forge(&data, &url, &["admin", "user", "list"]));
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("u@example.com"), "{listed}");
    assert!(
        !listed.contains("team-u"),
        "organisations are not users: {listed}"
    );
    run_ok(&mut forge(
        &data,
        &url,
        &[
            "admin",
            "user",
            "change-password",
            "--username",
            "u",
            "--password",
            "password2",
        ],
    ));
    let token = stdout
        .split_whitespace()
        .find(|w| w.len() == 40 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("no 40-hex token printed: {stdout:?}"))
        .to_owned();

    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    // The port is free when picked but another process may take it before the server binds;
    // then the server exits and is started again on another port.
    let mut started = None;
    for _ in 0..3 {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = forge(&data, &url, &["serve"])
            .env("FORGE_LISTEN", &addr)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start forge-server serve");
        let mut guard = ChildGuard(Some(child));
        let mut exited = false;
        let up = wait_until(Duration::from_secs(30), || {
            if let Some(c) = guard.0.as_mut() {
                exited = c.try_wait().expect("poll forge-server").is_some();
            }
            !exited
                && agent
                    .get(&format!("http://{addr}/api/healthz"))
                    .call()
                    .is_ok_and(|r| r.status() == 200)
        });
        // Alive after answering: the answer came from this server, not a port squatter.
        let alive = guard
            .0
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none());
        if up && alive {
            started = Some((guard, addr));
            break;
        }
        assert!(
            exited || !alive,
            "forge-server did not answer /api/healthz on {addr}"
        );
    }
    let (mut guard, addr) = started.expect("forge-server did not start");
    let pid = guard.0.as_ref().map(|c| c.id()).unwrap_or_default();
    let base = format!("http://{addr}");

    let path = format!("{base}/api/packages/u/generic/app/1.0/app.bin");
    let auth = Auth::token(&token).header_value().unwrap_or_default();
    let r = agent
        .put(&path)
        .set("Authorization", &auth)
        .send_bytes(b"binary");
    assert_eq!(r.map(|r| r.status()).map_err(|e| e.to_string()), Ok(201));
    let body = agent
        .get(&path)
        .call()
        .expect("download")
        .into_string()
        .expect("body");
    assert_eq!(body, "binary");
    // The changed password is the one that works; the organisation takes uploads from its
    // owner.
    let org_path = format!("{base}/api/packages/team-u/generic/app/1.0/app.bin");
    let with = |password: &str| {
        agent
            .put(&org_path)
            .set(
                "Authorization",
                &Auth::basic("u", password)
                    .header_value()
                    .unwrap_or_default(),
            )
            .send_bytes(b"org")
            .map(|r| r.status())
            .unwrap_or_else(|e| match e {
                ureq::Error::Status(code, _) => code,
                other => panic!("{other}"),
            })
    };
    assert_eq!(with("password1"), 401);
    assert_eq!(with("password2"), 201);
    // Idle keep-alive connections would hold up a graceful stop.
    drop(agent);

    // SAFETY: pid is our own child, still running (we hold its handle and have not waited).
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "could not send SIGTERM");
    let child = guard.0.as_mut().expect("child");
    let mut exit = None;
    wait_until(Duration::from_secs(10), || {
        exit = child.try_wait().expect("wait for forge-server");
        exit.is_some()
    });
    let exit = exit.expect("forge-server did not exit within 10 s of SIGTERM");
    guard.0 = None;
    assert!(
        exit.success(),
        "forge-server exited with {exit} after SIGTERM"
    );
}

forge_e2e::backends!(binary_end_to_end);

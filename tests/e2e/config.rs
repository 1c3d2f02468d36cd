//! The configuration file: `config check`, precedence of file and environment, errors that
//! name the key, and a server started from a file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use forge_e2e::{free_port, server_binary, wait_until, Backend, PgDatabase};

/// The binary with no inherited `FORGE_*` settings.
pub fn forge(args: &[&str]) -> Command {
    let mut cmd = Command::new(server_binary());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(args);
    cmd
}

fn output(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run forge-server");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../forge.example.toml")
}

/// `key = value` lines of `config check` output, without their comments.
fn values(check: &str) -> Vec<String> {
    check
        .lines()
        .filter(|l| l.contains(" = "))
        .map(|l| l.split("  # ").next().unwrap_or(l).to_owned())
        .collect()
}

#[test]
fn example_config_sets_every_key_to_its_default() {
    let (code, defaults, err) = output(&mut forge(&["config", "check"]));
    assert_eq!(code, 0, "{err}");
    let example = example();
    let (code, from_file, err) = output(&mut forge(&[
        "--config",
        example.to_str().expect("utf-8 path"),
        "config",
        "check",
    ]));
    assert_eq!(code, 0, "{err}");
    for line in from_file.lines().filter(|l| l.contains(" = ")) {
        assert!(
            line.contains("# file "),
            "forge.example.toml does not document this key: {line}"
        );
    }
    assert_eq!(values(&from_file), values(&defaults));
    assert!(defaults.contains("listen = \"127.0.0.1:3000\"  # default; FORGE_LISTEN"));
}

#[test]
fn environment_beats_file_beats_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("forge.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:4000\"\nworkers = 3\n\n[limits]\nsize_generic = \"1 KiB\"\n\n\
         [database]\nurl = \"postgres://forge:hunter2@db.example:5432/forge\"\n",
    )
    .expect("write config");
    let file = file.to_str().expect("utf-8 path");
    // FORGE_CONFIG names the file as well as --config does.
    let (code, out, err) = output(
        forge(&["config", "check"])
            .env("FORGE_CONFIG", file)
            .env("FORGE_WORKERS", "5")
            .env("FORGE_BLOB_GRACE_PERIOD", "60"),
    );
    assert_eq!(code, 0, "{err}");
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in {out}"))
            .to_owned()
    };
    assert!(line("listen").starts_with(&format!("listen = \"127.0.0.1:4000\"  # file {file};")));
    assert!(line("workers").starts_with("workers = 5  # environment FORGE_WORKERS;"));
    assert!(line("size_generic").starts_with("size_generic = 1024  # file"));
    assert!(line("blob_grace_period")
        .starts_with("blob_grace_period = 60  # environment FORGE_BLOB_GRACE_PERIOD;"));
    assert!(line("bcrypt_cost").starts_with("bcrypt_cost = 10  # default;"));
    assert!(!out.contains("hunter2"), "the password was printed: {out}");
    assert!(line("url").contains("postgres://forge:[redacted]@db.example:5432/forge"));
}

#[test]
fn bad_configuration_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("forge.toml");
    std::fs::write(
        &file,
        "[server]\nlisten = \"127.0.0.1:4000\"\nlisten_port = 1\n",
    )
    .expect("write config");
    let file = file.to_str().expect("utf-8 path");
    for args in [
        vec!["--config", file, "serve"],
        vec!["--config", file, "config", "check"],
    ] {
        let (code, _, err) = output(&mut forge(&args));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("server.listen_port"), "{err}");
        assert!(err.contains("unknown field"), "{err}");
    }

    let (code, _, err) = output(forge(&["serve"]).env("FORGE_WORKERS", "many"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("server.workers (from FORGE_WORKERS)"), "{err}");

    let (code, _, err) = output(forge(&["serve"]).env("FORGE_LIMIT_SIZE_GENERIC", "huge"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("limits.size_generic"), "{err}");

    let (code, _, err) = output(&mut forge(&[
        "--config",
        "/nonexistent/forge.toml",
        "serve",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/forge.toml"), "{err}");
}

/// A `forge-server serve` child answering on `addr`; killed when dropped.
pub struct Served {
    pub child: Child,
    pub addr: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Stops the server with SIGTERM and waits for it, so its logs are complete.
    pub fn stop(mut self) {
        // SAFETY: the pid is our own child, which has not been waited for.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        wait_until(Duration::from_secs(10), || {
            self.child.try_wait().ok().flatten().is_some()
        });
    }
}

/// Starts the binary made by `command` for a free address (retried on another port if
/// something else takes the picked one first) and waits until it answers.
pub fn serve(command: impl Fn(&str) -> Command) -> Served {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    for _ in 0..3 {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = command(&addr)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start forge-server");
        let mut served = Served { child, addr };
        let up = wait_until(Duration::from_secs(30), || {
            served.child.try_wait().ok().flatten().is_none()
                && agent
                    .get(&format!("http://{}/api/healthz", served.addr))
                    .call()
                    .is_ok_and(|r| r.status() == 200)
        });
        if up && served.child.try_wait().ok().flatten().is_none() {
            return served;
        }
    }
    panic!("forge-server did not start");
}

fn serves_from_a_config_file(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = (backend == Backend::Postgres).then(PgDatabase::create);
    let url = pg.as_ref().map(|p| p.url().to_owned()).unwrap_or_default();
    let data = dir.path().join("data");
    let file = dir.path().join("forge.toml");
    let served = serve(|addr| {
        std::fs::write(
            &file,
            format!(
                "[server]\nlisten = {addr:?}\ndata_dir = {:?}\nworkers = 1\n\n[database]\nurl = {url:?}\npool_size = 2\n",
                data.display()
            ),
        )
        .expect("write config");
        let mut cmd = forge(&["--config", file.to_str().expect("utf-8"), "serve"]);
        cmd.stderr(Stdio::null());
        cmd
    });
    if backend == Backend::Sqlite {
        assert!(
            data.join("forge.db").is_file(),
            "SQLite file not in the data_dir"
        );
    }
    served.stop();
}

forge_e2e::backends!(serves_from_a_config_file);

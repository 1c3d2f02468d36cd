//! The PyPI clients the end-to-end suite drives (twine, pip, uv from the test environment of
//! `scripts/test-env.sh`) and the distributions they publish, built once per test process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The project every client test publishes: a wheel and an sdist of it.
pub const PROJECT: &str = "Forge.Demo_Pkg";
pub const PROJECT_VERSION: &str = "1.0.0";
/// The module the wheel installs, and what its `VALUE` holds.
pub const MODULE: &str = "forge_demo_pkg";

/// The built distributions.
#[derive(Debug)]
pub struct Dists {
    _dir: tempfile::TempDir,
    pub wheel: PathBuf,
    pub sdist: PathBuf,
}

impl Dists {
    pub fn wheel_name(&self) -> String {
        file_name(&self.wheel)
    }

    pub fn sdist_name(&self) -> String {
        file_name(&self.sdist)
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .and_then(|n| n.to_str())
        .expect("file name")
        .to_owned()
}

/// The environment's `bin/` when the suite runs under `make test` (which sets
/// `FORGE_TEST_VENV`); `None` under a bare `cargo test`, where the client tests are skipped.
pub fn venv_bin() -> Option<PathBuf> {
    let venv = std::env::var("FORGE_TEST_VENV")
        .ok()
        .filter(|v| !v.is_empty())?;
    let bin = Path::new(&venv).join("bin");
    for tool in ["python", "twine", "uv", "pip"] {
        assert!(
            bin.join(tool).exists(),
            "FORGE_TEST_VENV is set but has no {tool}: run scripts/test-env.sh (tests/python/requirements.txt)"
        );
    }
    Some(bin)
}

/// The wheel and sdist of [`PROJECT`], made once with the standard library only.
pub fn dists(bin: &Path) -> &'static Dists {
    static DISTS: OnceLock<Dists> = OnceLock::new();
    DISTS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/make_dist.py");
        let out = Command::new(bin.join("python"))
            .arg(&script)
            .arg(dir.path())
            .args([PROJECT, PROJECT_VERSION])
            .output()
            .expect("run make_dist.py");
        assert!(out.status.success(), "make_dist.py: {}", text(&out));
        let find = |suffix: &str| {
            std::fs::read_dir(dir.path())
                .expect("read dists")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.to_string_lossy().ends_with(suffix))
                .unwrap_or_else(|| panic!("no {suffix} built"))
        };
        Dists {
            wheel: find(".whl"),
            sdist: find(".tar.gz"),
            _dir: dir,
        }
    })
}

/// A client command with an environment that never reaches another index nor reads the
/// user's configuration.
pub fn client(bin: &Path, tool: &str, home: &Path) -> Command {
    let mut cmd = Command::new(bin.join(tool));
    cmd.env("HOME", home)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_NO_CACHE_DIR", "1")
        .env("UV_NO_CONFIG", "1")
        .env("UV_CACHE_DIR", home.join("uv-cache"))
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("PIP_FIND_LINKS")
        .env_remove("UV_FIND_LINKS")
        .env_remove("UV_INDEX_URL")
        .env_remove("UV_EXTRA_INDEX_URL")
        .env_remove("TWINE_USERNAME")
        .env_remove("TWINE_PASSWORD")
        .env_remove("TWINE_REPOSITORY_URL");
    cmd
}

/// Runs a command and gives back its output, whatever the exit status.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Standard output and error of a finished command, for assertions and failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Appends the scenario's name to `FORGE_TEST_PYPI_MARKER`, so CI can prove the real-client
/// tests ran rather than being skipped.
pub fn record_client_run(name: &str) {
    crate::append_marker("FORGE_TEST_PYPI_MARKER", name);
}

//! PyPI with the real clients, unmodified: twine uploads a wheel and an sdist with a token,
//! pip and uv install from the simple index into fresh environments, a second upload is
//! refused with 409, and a private owner's index needs credentials. The clients never see
//! another index.

use std::path::Path;

use forge_e2e::pypi::{
    client, dists, record_client_run, run, text, venv_bin, Dists, MODULE, PROJECT, PROJECT_VERSION,
};
use forge_e2e::{Backend, TestServer, PASSWORD};
use packages_core::Visibility;

/// A server with the owner `pyowner` of the given visibility and its write token.
fn start(backend: Backend, visibility: Visibility) -> (TestServer, String) {
    let s = TestServer::start(backend);
    s.create_user_with_visibility("pyowner", PASSWORD, visibility);
    let token = s.token("pyowner", "publish", "write:package");
    (s, token)
}

fn repository(s: &TestServer) -> String {
    s.url("/api/packages/pyowner/pypi")
}

/// `http://user:secret@host/…` for clients that take credentials in the index URL.
fn with_credentials(url: &str, user: &str, secret: &str) -> String {
    url.replacen("http://", &format!("http://{user}:{secret}@"), 1)
}

fn twine_upload(
    bin: &Path,
    home: &Path,
    s: &TestServer,
    token: &str,
    files: &[&Path],
) -> std::process::Output {
    run(client(bin, "twine", home)
        .arg("upload")
        .args(["--repository-url", &repository(s)])
        .args(["-u", "pyowner", "-p", token])
        .args(["--non-interactive", "--disable-progress-bar"])
        .args(files))
}

/// A fresh, empty environment made by uv (fast: no pip inside).
fn fresh_venv(bin: &Path, home: &Path, name: &str) -> std::path::PathBuf {
    let dir = home.join(name);
    let out = run(client(bin, "uv", home).args(["venv", "--quiet"]).arg(&dir));
    assert!(out.status.success(), "uv venv: {}", text(&out));
    dir
}

/// Imports the module in the environment and checks what it holds.
fn assert_imports(venv: &Path) {
    let out = run(std::process::Command::new(venv.join("bin/python"))
        .args(["-c", &format!("import {MODULE}; print({MODULE}.VALUE)")]));
    assert!(out.status.success(), "import: {}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{PROJECT} {PROJECT_VERSION}")
    );
}

/// `pip install` into `venv`; with debug output, so a refused index page shows its status.
fn pip_install(bin: &Path, home: &Path, venv: &Path, index: &str) -> std::process::Output {
    run(client(bin, "pip", home)
        .arg("--python")
        .arg(venv.join("bin/python"))
        .args(["install", "-vv", "--no-input", "--index-url", index])
        .arg(format!("{PROJECT}=={PROJECT_VERSION}")))
}

/// What a client scenario works with: the clients, a scratch home, the server and a token
/// of its owner. `None` (the scenario is skipped) outside `make test`.
struct Setup {
    bin: std::path::PathBuf,
    home: tempfile::TempDir,
    s: TestServer,
    token: String,
}

/// Starts the server and publishes `files` with twine.
fn publish(
    backend: Backend,
    visibility: Visibility,
    files: impl FnOnce(&Dists) -> Vec<&Path>,
) -> Option<Setup> {
    let Some(bin) = venv_bin() else {
        println!("skipped: PyPI clients not installed (run through make test)");
        return None;
    };
    let dists = dists(&bin);
    let home = tempfile::tempdir().expect("home");
    let (s, token) = start(backend, visibility);
    let out = twine_upload(&bin, home.path(), &s, &token, &files(dists));
    assert!(out.status.success(), "twine upload: {}", text(&out));
    Some(Setup {
        bin,
        home,
        s,
        token,
    })
}

fn twine_pip_and_uv(backend: Backend) {
    let Some(Setup {
        bin,
        home,
        s,
        token,
    }) = publish(backend, Visibility::Public, |d| vec![&d.wheel, &d.sdist])
    else {
        return;
    };
    let (home, dists) = (home.path(), dists(&bin));

    let index = s.url("/api/packages/pyowner/pypi/simple/");
    let venv = fresh_venv(&bin, home, "pip-env");
    let out = pip_install(&bin, home, &venv, &index);
    assert!(out.status.success(), "pip install: {}", text(&out));
    assert_imports(&venv);

    let venv = fresh_venv(&bin, home, "uv-env");
    let out = run(client(&bin, "uv", home)
        .args([
            "pip",
            "install",
            "--no-config",
            "--index-url",
            &index,
            "--python",
        ])
        .arg(venv.join("bin/python"))
        .arg(format!("{PROJECT}=={PROJECT_VERSION}")));
    assert!(out.status.success(), "uv pip install: {}", text(&out));
    assert_imports(&venv);

    // The same file again: twine reports the registry's 409.
    let out = twine_upload(&bin, home, &s, &token, &[&dists.wheel]);
    assert!(
        !out.status.success(),
        "second upload should fail: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("409"),
        "twine should report 409: {}",
        text(&out)
    );
    record_client_run(&format!("twine_pip_and_uv {backend:?}"));
}

fn private_index_needs_credentials(backend: Backend) {
    let Some(Setup {
        bin,
        home,
        s,
        token,
    }) = publish(backend, Visibility::Private, |d| vec![&d.wheel])
    else {
        return;
    };
    let home = home.path();

    let index = s.url("/api/packages/pyowner/pypi/simple/");
    let venv = fresh_venv(&bin, home, "anonymous");
    let out = pip_install(&bin, home, &venv, &index);
    assert!(
        !out.status.success(),
        "anonymous pip should fail: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("401"),
        "pip should report 401: {}",
        text(&out)
    );

    let out = pip_install(
        &bin,
        home,
        &venv,
        &with_credentials(&index, "pyowner", &token),
    );
    assert!(out.status.success(), "pip with a token: {}", text(&out));
    assert_imports(&venv);
    record_client_run(&format!("private_index_needs_credentials {backend:?}"));
}

forge_e2e::backends!(twine_pip_and_uv, private_index_needs_credentials);

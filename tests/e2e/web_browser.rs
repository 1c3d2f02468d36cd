//! The web interface in a real browser: headless Chromium driven through WebDriver by
//! `tests/python/web_walkthrough.py` (Selenium, from the suites' Python environment). The
//! walkthrough signs in, searches, opens a version, copies a command, deletes a file after
//! confirming, creates and deletes a token, is refused a form with a wrong token, works with
//! scripts off, and signs out; it writes screenshots to `target/web-screenshots/<backend>`.
//!
//! Skipped (with a note) when Chromium, chromedriver or Selenium is missing, unless
//! `FORGE_TEST_REQUIRE_BROWSER=1`; each run that happened appends a line to
//! `FORGE_TEST_BROWSER_MARKER`, so CI can tell a skip from a pass.

use std::path::{Path, PathBuf};
use std::process::Command;

use forge_e2e::{file_path, Auth, Backend, TestServer, PASSWORD};

use crate::common::*;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn program(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// Why the browser cannot run here, if it cannot.
fn missing_part() -> Option<String> {
    for (var, default) in [
        ("FORGE_TEST_CHROMIUM", "/usr/bin/chromium"),
        ("FORGE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"),
    ] {
        let path = program(var, default);
        if !path.exists() {
            return Some(format!("{} not found (set {var})", path.display()));
        }
    }
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .output();
    match selenium {
        Ok(out) if out.status.success() => None,
        _ => Some("python3 with selenium not found (run through make test)".to_owned()),
    }
}

fn browser_walkthrough(backend: Backend) {
    if let Some(reason) = missing_part() {
        if std::env::var("FORGE_TEST_REQUIRE_BROWSER").is_ok_and(|v| v.trim() == "1") {
            panic!("FORGE_TEST_REQUIRE_BROWSER=1 but {reason}");
        }
        println!("skipped: {reason}");
        return;
    }
    let s = TestServer::start(backend);
    s.create_user("alice", PASSWORD, false);
    let alice = Auth::basic("alice", PASSWORD);
    for (version, file, body) in [
        ("1.0.0", "app.tar.gz", &b"release archive"[..]),
        ("1.0.0", "README.txt", b"read me"),
        ("1.1.0", "app.tar.gz", b"newer release archive"),
    ] {
        status(
            &s.put(&file_path("alice", "my-app", version, file), body, &alice),
            201,
        );
    }
    // A download, so the page has a count to show.
    status(
        &s.get(&file_path("alice", "my-app", "1.0.0", "app.tar.gz"), &alice),
        200,
    );
    let shots = std::env::var_os("FORGE_TEST_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target").join("web-screenshots"))
        .join(format!("{backend:?}").to_lowercase());
    let out = Command::new("python3")
        .arg(workspace().join("tests/python/web_walkthrough.py"))
        .arg(&s.base)
        .arg(PASSWORD)
        .arg(&shots)
        .output()
        .expect("run the browser walkthrough");
    assert!(
        out.status.success(),
        "browser walkthrough failed (screenshots in {}):\n{}\n{}",
        shots.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What the browser did, as stored.
    let files = s.stored_package_files("alice", "my-app", "1.0.0");
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].name, "app.tar.gz");
    assert!(s.stored_version("alice", "my-app", "1.1.0").is_none());
    assert!(s.stored_version("alice", "from-browser", "1").is_some());
    for shot in [
        "home",
        "version",
        "version-dark",
        "tokens",
        "usage",
        "delete-confirm",
    ] {
        let path = shots.join(format!("{shot}.png"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", path.display());
    }
    forge_e2e::append_marker(
        "FORGE_TEST_BROWSER_MARKER",
        &format!("{backend:?} browser_walkthrough"),
    );
}

forge_e2e::backends!(browser_walkthrough);

//! The snippets of docs/OPERATIONS.md marked `<!-- check: … -->` are checked with the tools
//! they are written for, so the guide's commands work as written.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use forge_e2e::{
    agent, free_port, send, server_binary, wait_until, Auth, Backend, TestServer, PASSWORD,
};

/// The fenced block after each `<!-- check: NAME -->` marker.
fn checked_snippets() -> BTreeMap<String, String> {
    let guide = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/OPERATIONS.md");
    let text = std::fs::read_to_string(&guide).expect("read docs/OPERATIONS.md");
    let mut snippets = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .trim()
            .strip_prefix("<!-- check: ")
            .and_then(|r| r.strip_suffix(" -->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```"),
            "no code block after the {name} marker"
        );
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        snippets.insert(name.to_owned(), body.join("\n") + "\n");
    }
    for name in [
        "systemd-unit",
        "config",
        "nginx",
        "caddy",
        "prometheus-rules",
    ] {
        assert!(
            snippets.contains_key(name),
            "docs/OPERATIONS.md lost its {name} snippet"
        );
    }
    snippets
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[track_caller]
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn example_configuration_passes_config_check() {
    let snippets = checked_snippets();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("forge.toml");
    std::fs::write(&file, &snippets["config"]).expect("write config");
    let out = run_ok(Command::new(server_binary()).env_clear().args([
        "--config",
        file.to_str().expect("utf-8"),
        "config",
        "check",
    ]));
    assert!(
        !out.contains("change-me") && !out.contains("a-long-random-string"),
        "{out}"
    );
    assert!(out.contains("format = \"json\"  # file"), "{out}");
}

#[test]
fn systemd_unit_verifies() {
    if !have("systemd-analyze") {
        println!("skipped: systemd-analyze is not installed");
        return;
    }
    let snippets = checked_snippets();
    let dir = tempfile::tempdir().expect("tempdir");
    let unit = dir.path().join("forge.service");
    let binary = server_binary();
    let text = snippets["systemd-unit"].replace(
        "/usr/local/bin/forge-server",
        binary.to_str().expect("utf-8"),
    );
    std::fs::write(&unit, text).expect("write unit");
    let out = run_ok(Command::new("systemd-analyze").args([
        "verify",
        "--man=no",
        unit.to_str().expect("utf-8"),
    ]));
    assert!(
        !out.contains("Unknown key") && !out.contains("Failed"),
        "{out}"
    );
}

#[test]
fn nginx_site_passes_nginx_t() {
    if !have("nginx") || !have("openssl") {
        println!("skipped: nginx or openssl is not installed");
        return;
    }
    let snippets = checked_snippets();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8");
    run_ok(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-keyout",
        &format!("{d}/privkey.pem"),
        "-out",
        &format!("{d}/fullchain.pem"),
    ]));
    let site = snippets["nginx"]
        .replace("/etc/ssl/forge/", &format!("{d}/"))
        .replace("listen 443", "listen 127.0.0.1:18443");
    let conf =
        format!("pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n{site}}}\n");
    std::fs::write(dir.path().join("nginx.conf"), conf).expect("write nginx.conf");
    run_ok(Command::new("nginx").args(["-t", "-p", d, "-c", &format!("{d}/nginx.conf")]));
}

/// The Caddy site validates as written, and, on loopback in front of a real server, passes a
/// large upload and its download through with the links and request ids the guide promises.
#[test]
fn caddy_site_validates_and_streams() {
    if !have("caddy") {
        println!("skipped: caddy is not installed");
        return;
    }
    let site = checked_snippets()["caddy"].clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let caddy = |args: &[&str]| {
        let mut cmd = Command::new("caddy");
        cmd.args(args)
            .env("HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path().join("data"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"));
        cmd
    };
    let as_written = dir.path().join("Caddyfile.guide");
    std::fs::write(&as_written, &site).expect("write Caddyfile");
    let path = as_written.to_str().expect("utf-8");
    run_ok(&mut caddy(&[
        "validate",
        "--adapter",
        "caddyfile",
        "--config",
        path,
    ]));

    let s = TestServer::start(Backend::Sqlite);
    s.create_user("ops", PASSWORD, false);
    let token = s.token("ops", "ci", "write:package");
    let upstream = s.url("").trim_start_matches("http://").to_owned();
    let port = free_port();
    let local = format!(
        "{{\n    admin off\n    persist_config off\n}}\n{}",
        site.replace("packages.example.com", &format!("http://127.0.0.1:{port}"))
            .replace("127.0.0.1:3000", &upstream)
    );
    let local_file = dir.path().join("Caddyfile");
    std::fs::write(&local_file, local).expect("write Caddyfile");
    let mut child = caddy(&[
        "run",
        "--adapter",
        "caddyfile",
        "--config",
        local_file.to_str().expect("utf-8"),
    ])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("start caddy");
    let base = format!("http://127.0.0.1:{port}");
    let http = agent();
    let up = wait_until(std::time::Duration::from_secs(20), || {
        http.get(&format!("{base}/api/healthz")).call().is_ok()
    });
    if !up {
        let _ = child.kill();
        panic!("caddy did not start");
    }

    // Larger than any default body limit a proxy might keep.
    let body: Vec<u8> = (0..12u32 << 20).map(|i| (i % 251) as u8).collect();
    let file = "/api/packages/ops/generic/app/1.0/app.bin";
    let put = send(
        &http,
        "PUT",
        &format!("{base}{file}"),
        &Auth::token(&token),
        &[],
        Some(&body),
    );
    let got = send(
        &http,
        "GET",
        &format!("{base}{file}"),
        &Auth::Anonymous,
        &[],
        None,
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(put.status, 201, "{}", put.text());
    assert_eq!(
        put.header("location"),
        Some(format!("{base}{file}").as_str()),
        "links must name the proxy's address"
    );
    let id = put.header("x-request-id").unwrap_or_default();
    assert_eq!(id.len(), 36, "the proxy's request id: {id:?}");
    assert_eq!(got.status, 200);
    assert!(got.body == body, "the download differs from the upload");
}

/// Every metric an alert rule names is one the server exposes.
fn alert_rules_name_real_metrics(backend: Backend) {
    let snippets = checked_snippets();
    let s = TestServer::start(backend);
    s.create_user("ops", PASSWORD, false);
    let alice = Auth::basic("ops", PASSWORD);
    assert_eq!(
        s.put("/api/packages/ops/generic/a/1/f", b"x", &alice)
            .status,
        201
    );
    assert_eq!(
        s.get("/api/packages/ops/generic/a/1/f", &Auth::Anonymous)
            .status,
        200
    );
    let exposition = s.get("/metrics", &Auth::Anonymous).text();
    let rules = &snippets["prometheus-rules"];
    let mut named = 0;
    for word in rules.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        if word.starts_with("forge_") {
            named += 1;
            assert!(
                exposition.lines().any(|l| l.starts_with(word)),
                "the alert rules name {word}, which /metrics does not expose:\n{exposition}"
            );
        }
    }
    assert!(named >= 5, "{rules}");
}

forge_e2e::backends!(alert_rules_name_real_metrics);

//! Request ids and the access log, read from the real binary's standard error.

use std::process::Stdio;

use forge_e2e::Auth;

use crate::config::{forge, serve};

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn request_ids_reach_every_line_and_the_access_log_is_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let status = forge(&[
        "admin",
        "user",
        "create",
        "--username",
        "logger",
        "--password",
        "pa55word-x",
        "--email",
        "l@example.com",
    ])
    .env("FORGE_DATA_DIR", &data)
    .env("FORGE_BCRYPT_COST", "4")
    .stderr(Stdio::null())
    .status()
    .expect("create user");
    assert!(status.success());
    let log = dir.path().join("server.log");
    let served = serve(|addr| {
        let mut cmd = forge(&["serve"]);
        cmd.env("FORGE_DATA_DIR", &data)
            .env("FORGE_LISTEN", addr)
            .env("FORGE_LOG_FORMAT", "json")
            .env("FORGE_LOG_LEVEL", "info,forge::blocking=debug")
            .env("FORGE_LOG_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
            .stderr(std::fs::File::create(&log).expect("log file"));
        cmd
    });
    let base = format!("http://{}", served.addr);
    let agent = ureq::agent();
    let auth = Auth::basic("logger", "pa55word-x")
        .header_value()
        .unwrap_or_default();
    let url = format!("{base}/api/packages/logger/generic/app/1.0/a.bin?token=query-secret");
    let r = agent
        .put(&url)
        .set("Authorization", &auth)
        .set("X-Request-Id", "upload-42")
        .set("X-Forwarded-For", "198.51.100.1, 203.0.113.7, 10.1.2.3")
        .send_bytes(b"12345")
        .expect("upload");
    assert_eq!(r.status(), 201);
    assert_eq!(r.header("x-request-id"), Some("upload-42"));
    // Without an id, one is made up and returned.
    let r = agent
        .get(&format!("{base}/api/packages/logger/generic/app/1.0/a.bin"))
        .call()
        .expect("download");
    let generated = r.header("x-request-id").unwrap_or_default().to_owned();
    assert_eq!(generated.len(), 32, "{generated:?}");
    assert_eq!(r.into_string().expect("body"), "12345");
    // An id that could break a log line is replaced.
    let r = agent
        .get(&format!("{base}/api/healthz"))
        .set("X-Request-Id", "bad id\"")
        .call()
        .expect("healthz");
    assert_eq!(r.header("x-request-id").map(str::len), Some(32));
    // An upload refused from its headers (`Expect: 100-continue`) never reaches the
    // handlers; the refusal still carries the request's id, and so does its log line.
    let mut stream = std::net::TcpStream::connect(&served.addr).expect("connect");
    let head = "PUT /api/packages/logger/generic/app/1.0/b.bin HTTP/1.1\r\nHost: x\r\n\
         Authorization: Basic bG9nZ2VyOndyb25n\r\nX-Request-Id: refused-9\r\n\
         Expect: 100-continue\r\nContent-Length: 10\r\n\r\n";
    std::io::Write::write_all(&mut stream, head.as_bytes()).expect("send head");
    let (interim, refused) =
        forge_e2e::read_final_response(&mut stream, std::time::Duration::from_secs(10))
            .expect("an answer");
    assert!(interim.is_empty(), "{interim:?}");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("x-request-id"), Some("refused-9"));
    served.stop();

    let text = std::fs::read_to_string(&log).expect("read log");
    for secret in ["query-secret", "pa55word-x", "Authorization", "Basic "] {
        assert!(!text.contains(secret), "{secret:?} was logged:\n{text}");
    }
    let lines = json_lines(&text);
    let of = |id: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|l| l["request_id"] == id).collect()
    };
    assert!(
        of("refused-9").iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("refused before its body"))),
        "the refusal's log line lacks its id:\n{text}"
    );
    let upload = of("upload-42");
    let access: Vec<_> = upload
        .iter()
        .filter(|l| l["target"] == "forge::access")
        .collect();
    assert_eq!(access.len(), 1, "one access line per request:\n{text}");
    let a = access[0];
    assert_eq!(a["method"], "PUT");
    assert_eq!(
        a["route"],
        "/api/packages/{owner}/generic/{name}/{version}/{file}"
    );
    assert_eq!(a["path"], "/api/packages/logger/generic/app/1.0/a.bin");
    assert_eq!(a["status"], 201);
    assert_eq!(a["bytes_in"], 5);
    assert_eq!(a["user"], "logger");
    assert_eq!(a["client"], "203.0.113.7");
    assert!(a["duration_ms"].as_f64().is_some(), "{a}");
    // Lines written on the blocking pool while serving it carry the id too.
    assert!(
        upload
            .iter()
            .any(|l| l["target"] == "forge::blocking" && l["thread"] != a["thread"]),
        "no line from the blocking pool carries the id:\n{text}"
    );
    let download = of(&generated);
    let a = download
        .iter()
        .find(|l| l["target"] == "forge::access")
        .unwrap_or_else(|| panic!("no access line for {generated}:\n{text}"));
    assert_eq!(
        (a["status"].as_u64(), a["bytes_out"].as_u64()),
        (Some(200), Some(5))
    );
    assert_eq!(a["client"], "127.0.0.1");
}

#[test]
fn text_lines_carry_the_request_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("server.log");
    let served = serve(|addr| {
        let mut cmd = forge(&["serve"]);
        cmd.env("FORGE_DATA_DIR", dir.path().join("data"))
            .env("FORGE_LISTEN", addr)
            .stderr(std::fs::File::create(&log).expect("log file"));
        cmd
    });
    let r = ureq::get(&format!("http://{}/api/healthz", served.addr))
        .set("X-Request-Id", "text-7")
        .call()
        .expect("healthz");
    assert_eq!(r.header("x-request-id"), Some("text-7"));
    served.stop();
    let text = std::fs::read_to_string(&log).expect("read log");
    let line = text
        .lines()
        .find(|l| l.contains("forge::access") && l.contains("[text-7]"))
        .unwrap_or_else(|| panic!("no access line with the id:\n{text}"));
    assert!(line.contains("\"GET /api/healthz\" 200"), "{line}");
}

//! Security settings end to end: the public base URL (`root_url`), which peers' forwarding
//! headers are believed (`trusted_proxies`), the `Secure` flag of cookies, the bound on
//! uploads in progress (`max_concurrent_uploads`), password-guessing limits kept in the
//! database (per account, per client address, across instances), the last administrator, a
//! trickling PyPI upload, and the test-only format staying out of production builds.
//! `docs/SECURITY.md` maps each protection to these scenarios.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use forge_e2e::web_client::{csrf_of, form_encode};
use forge_e2e::{
    file_path, read_final_response, run_scenario, seg, version_path, wait_until, Auth, Backend,
    PgDatabase, RawResponse, Resp, TestEnv, TestServer, UserChanges, WebClient, ANON, PASSWORD,
};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::common::*;

// ---------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------

/// The public base URL the `root_url` scenarios configure (a proxy strips `/registry`).
const ROOT_URL: &str = "https://pkg.example.com/registry/";
/// [`ROOT_URL`] without its trailing slash: what every absolute URL starts with.
const ROOT: &str = "https://pkg.example.com/registry";

/// Forwarding headers as a client (not a proxy) could forge them.
const EVIL: [(&str, &str); 3] = [
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Proto", "https"),
    ("Forwarded", "host=evil.example;proto=https"),
];

/// The package every URL scenario uploads: user2's generic `app` 1.0.
const PKG: &str = "app";
const PKG_VERSION: &str = "1.0";
const PKG_FILE: &str = "app.bin";
const PKG_CONTENT: &[u8] = b"the app";

fn app_file(file: &str) -> String {
    file_path(OWNER, PKG, PKG_VERSION, file)
}

fn links_path(file: &str) -> String {
    format!("/api/v1/packages/{OWNER}/generic/{PKG}/{PKG_VERSION}/files/{file}/links")
}

fn web_version_page() -> String {
    format!("/{OWNER}/-/packages/generic/{PKG}/{PKG_VERSION}")
}

/// A header that must be present.
#[track_caller]
fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header: {}", r.describe()))
}

/// Asserts that nothing of a response (headers or body) names the forged host.
#[track_caller]
fn nothing_forged(r: &Resp) {
    for (name, value) in &r.headers {
        assert!(
            !value.contains("evil.example"),
            "header {name} carries the forged host: {}",
            r.describe()
        );
    }
    assert!(
        !r.text().contains("evil.example"),
        "the body carries the forged host: {}",
        r.describe()
    );
}

/// `Retry-After` in seconds, asserting it is there and within `1..=max`.
#[track_caller]
fn retry_after(r: &Resp, max: u64) -> u64 {
    let wait: u64 = header(r, "retry-after")
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After is not a number of seconds: {}", r.describe()));
    assert!(
        (1..=max).contains(&wait),
        "Retry-After {wait} outside 1..={max}: {}",
        r.describe()
    );
    wait
}

/// Sends `body` as JSON with `method`.
fn json_request(s: &TestServer, method: &str, path: &str, auth: &Auth, body: &str) -> Resp {
    s.request(
        method,
        path,
        auth,
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
}

/// The `Set-Cookie` value for cookie `name`, if the response sets it.
fn set_cookie<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with(&format!("{name}=")))
        .map(|(_, v)| v.as_str())
}

/// Whether a `Set-Cookie` value has the `Secure` attribute.
fn is_secure_cookie(value: &str) -> bool {
    value
        .split(';')
        .skip(1)
        .any(|attr| attr.trim().eq_ignore_ascii_case("secure"))
}

/// Uploads the reference file of the URL scenarios and returns the response.
fn upload_app(s: &TestServer, file: &str, headers: &[(&str, &str)]) -> Resp {
    s.request("PUT", &app_file(file), &user2(), headers, Some(PKG_CONTENT))
}

// ---------------------------------------------------------------------------------------
// root_url
// ---------------------------------------------------------------------------------------

/// With `root_url` set, every absolute URL the server emits starts with it, whatever the
/// request's `Host` or forwarding headers say; the server still answers at `/`.
fn root_url_prefixes_every_absolute_url(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.server.root_url = ROOT_URL.to_owned());
    with_user2(&s);

    // The upload's Location and JSON url.
    let r = upload_app(&s, PKG_FILE, &[]);
    status(&r, 201);
    let expected = format!("{ROOT}{}", app_file(PKG_FILE));
    assert_eq!(header(&r, "location"), expected, "{}", r.describe());
    assert_eq!(r.json()["url"], expected.as_str(), "{}", r.describe());
    // Forged forwarding headers change nothing either.
    let r = upload_app(&s, "second.bin", &EVIL);
    status(&r, 201);
    nothing_forged(&r);
    let second = format!("{ROOT}{}", app_file("second.bin"));
    assert_eq!(header(&r, "location"), second);
    assert_eq!(r.json()["url"], second.as_str());

    // The version manifest's file URLs.
    let r = s.get_with(&version_path(OWNER, PKG, PKG_VERSION), &ANON, &EVIL);
    status(&r, 200);
    nothing_forged(&r);
    let doc = r.json();
    let urls: Vec<&str> = doc["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["url"].as_str().expect("url"))
        .collect();
    assert_eq!(urls.len(), 2, "{doc}");
    for url in &urls {
        assert!(
            *url == expected || *url == second,
            "manifest URL {url:?} is not below {ROOT}"
        );
    }

    // A signed link: below the root URL, and usable at the plain path behind the proxy.
    let r = s.request("POST", &links_path(PKG_FILE), &user2(), &EVIL, None);
    status(&r, 201);
    nothing_forged(&r);
    let url = r.json()["url"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with(&format!("{expected}?link_token=")),
        "signed link {url:?}"
    );
    let plain = url.strip_prefix(ROOT).expect("below the root URL");
    let got = s.get(plain, &ANON);
    status(&got, 200);
    assert_eq!(got.body, PKG_CONTENT);

    // The container registry: the token realm and a blob upload's Location.
    let r = s.get_with("/v2/", &ANON, &EVIL);
    status(&r, 401);
    nothing_forged(&r);
    assert_eq!(
        header(&r, "www-authenticate"),
        format!("Bearer realm=\"{ROOT}/v2/token\",service=\"container_registry\",scope=\"*\"")
    );
    let r = s.request(
        "POST",
        &format!("/v2/{OWNER}/app/blobs/uploads/"),
        &user2(),
        &EVIL,
        Some(b""),
    );
    status(&r, 202);
    nothing_forged(&r);
    let location = header(&r, "location");
    let uuid = header(&r, "docker-upload-uuid");
    assert_eq!(
        location,
        format!("{ROOT}/v2/{OWNER}/app/blobs/uploads/{uuid}"),
        "{}",
        r.describe()
    );

    // html_url fields of /api/v1.
    let r = s.request("GET", "/api/v1/user", &user2(), &EVIL, None);
    status(&r, 200);
    nothing_forged(&r);
    assert_eq!(r.json()["html_url"], format!("{ROOT}/{OWNER}"));
    let r = s.get_with(&format!("/api/v1/packages/{OWNER}"), &ANON, &EVIL);
    status(&r, 200);
    nothing_forged(&r);
    let listed = r.json();
    let generic = listed
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["type"] == "generic")
        .unwrap_or_else(|| panic!("no generic package in {listed}"))
        .clone();
    assert_eq!(
        generic["html_url"],
        format!("{ROOT}/{OWNER}/-/packages/generic/{PKG}/{PKG_VERSION}"),
        "{listed}"
    );
    assert_eq!(generic["owner"]["html_url"], format!("{ROOT}/{OWNER}"));

    // The commands on the web page.
    let mut b = WebClient::new(&s);
    b.extra_headers = EVIL
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let r = b.get(&web_version_page());
    status(&r, 200);
    nothing_forged(&r);
    let page = r.text();
    assert!(
        page.contains(&format!("curl -fL -o '{PKG_FILE}' '{expected}'")),
        "no curl command with the root URL in {page}"
    );
    assert!(
        !page.contains(&s.base),
        "the page names the internal address {}: {page}",
        s.base
    );
}

/// A `root_url` that is not an absolute http(s) URL stops start-up.
#[test]
fn a_malformed_root_url_stops_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, bad) in [
        "pkg.example.com/registry",
        "ftp://pkg.example.com/",
        "https://h/?q=1",
    ]
    .into_iter()
    .enumerate()
    {
        let log = dir.path().join(format!("stderr-{i}"));
        let mut child = crate::config::forge(&["serve"])
            .env("FORGE_DATA_DIR", dir.path().join("data"))
            .env("FORGE_LISTEN", "127.0.0.1:0")
            .env("FORGE_ROOT_URL", bad)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("run forge-server");
        let mut exit = None;
        wait_until(Duration::from_secs(20), || {
            exit = child.try_wait().expect("poll forge-server");
            exit.is_some()
        });
        if exit.is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("forge-server started with root_url {bad:?}");
        }
        assert!(
            !exit.is_some_and(|e| e.success()),
            "forge-server accepted root_url {bad:?}"
        );
        let stderr = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(stderr.contains("root_url"), "{bad:?}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------
// trusted_proxies
// ---------------------------------------------------------------------------------------

/// With no trusted proxies (the default), forwarding headers are ignored everywhere: URLs
/// use the `Host` header and the connection's own scheme.
fn forwarded_headers_from_untrusted_peers_are_ignored(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    check_untrusted(&s);
}

/// A trusted proxy list that does not contain the peer is the same as none.
fn forwarded_headers_from_peers_outside_the_list_are_ignored(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.server.trusted_proxies = vec!["10.0.0.0/8".to_owned(), "192.0.2.7".to_owned()];
    });
    with_user2(&s);
    check_untrusted(&s);
}

fn check_untrusted(s: &TestServer) {
    let base = s.base.clone();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let r = upload_app(s, PKG_FILE, &EVIL);
    status(&r, 201);
    nothing_forged(&r);
    let expected = format!("{base}{}", app_file(PKG_FILE));
    assert_eq!(header(&r, "location"), expected, "{}", r.describe());
    assert_eq!(r.json()["url"], expected.as_str(), "{}", r.describe());

    let r = s.get_with(&version_path(OWNER, PKG, PKG_VERSION), &ANON, &EVIL);
    status(&r, 200);
    nothing_forged(&r);
    assert_eq!(r.json()["files"][0]["url"], expected.as_str());

    let r = s.request("POST", &links_path(PKG_FILE), &user2(), &EVIL, None);
    status(&r, 201);
    nothing_forged(&r);
    let url = r.json()["url"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with(&format!("{expected}?link_token=")),
        "signed link {url:?}"
    );

    let r = s.get_with("/v2/", &ANON, &EVIL);
    status(&r, 401);
    nothing_forged(&r);
    assert_eq!(
        header(&r, "www-authenticate"),
        format!("Bearer realm=\"{base}/v2/token\",service=\"container_registry\",scope=\"*\"")
    );
    let r = s.request(
        "POST",
        &format!("/v2/{OWNER}/app/blobs/uploads/"),
        &user2(),
        &EVIL,
        Some(b""),
    );
    status(&r, 202);
    nothing_forged(&r);
    assert!(
        header(&r, "location").starts_with(&format!("{base}/v2/{OWNER}/app/blobs/uploads/")),
        "{}",
        r.describe()
    );

    let r = s.request("GET", "/api/v1/user", &user2(), &EVIL, None);
    status(&r, 200);
    nothing_forged(&r);
    assert_eq!(r.json()["html_url"], format!("{base}/{OWNER}"));

    let mut b = WebClient::new(s);
    b.extra_headers = EVIL
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let r = b.get(&web_version_page());
    status(&r, 200);
    nothing_forged(&r);
    let page = r.text();
    assert!(
        page.contains(&format!("curl -fL -o '{PKG_FILE}' '{expected}'")),
        "no curl command with {base} in {page}"
    );
    // The forged scheme is not believed either: no cookie is Secure over plain HTTP.
    for (name, value) in &r.headers {
        if name == "set-cookie" {
            assert!(!is_secure_cookie(value), "{value}");
        }
    }
}

/// From a trusted proxy the forwarded scheme and host make the URLs, through either the
/// `X-Forwarded-*` headers or `Forwarded`; `[log] trusted_proxies` is the same list.
fn forwarded_headers_from_trusted_proxies_are_believed(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1".to_owned()];
    });
    with_user2(&s);
    let proxy = [
        ("X-Forwarded-Host", "proxy.example"),
        ("X-Forwarded-Proto", "https"),
    ];
    let expected = format!("https://proxy.example{}", app_file(PKG_FILE));

    let r = upload_app(&s, PKG_FILE, &proxy);
    status(&r, 201);
    assert_eq!(header(&r, "location"), expected, "{}", r.describe());
    assert_eq!(r.json()["url"], expected.as_str());

    let r = s.get_with(&version_path(OWNER, PKG, PKG_VERSION), &ANON, &proxy);
    status(&r, 200);
    assert_eq!(r.json()["files"][0]["url"], expected.as_str());

    let r = s.request("POST", &links_path(PKG_FILE), &user2(), &proxy, None);
    status(&r, 201);
    let url = r.json()["url"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with(&format!("{expected}?link_token=")),
        "signed link {url:?}"
    );

    let r = s.get_with("/v2/", &ANON, &proxy);
    status(&r, 401);
    assert_eq!(
        header(&r, "www-authenticate"),
        "Bearer realm=\"https://proxy.example/v2/token\",service=\"container_registry\",scope=\"*\""
    );

    let mut b = WebClient::new(&s);
    b.extra_headers = proxy
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let page = b.get(&web_version_page());
    status(&page, 200);
    assert!(
        page.text()
            .contains(&format!("curl -fL -o '{PKG_FILE}' '{expected}'")),
        "{}",
        page.text()
    );

    // RFC 7239's header.
    let r = upload_app(
        &s,
        "forwarded.bin",
        &[("Forwarded", "for=192.0.2.1;host=proxy2.example;proto=https")],
    );
    status(&r, 201);
    assert_eq!(
        header(&r, "location"),
        format!("https://proxy2.example{}", app_file("forwarded.bin"))
    );

    // Without forwarding headers the proxy's request is answered as it came.
    let r = upload_app(&s, "direct.bin", &[]);
    status(&r, 201);
    assert_eq!(
        header(&r, "location"),
        format!("{}{}", s.base, app_file("direct.bin"))
    );

    // The older name of the list.
    let s = TestServer::start_with(backend, |c| {
        c.log.trusted_proxies = vec!["127.0.0.0/8".to_owned()];
    });
    with_user2(&s);
    let r = upload_app(&s, PKG_FILE, &proxy);
    status(&r, 201);
    assert_eq!(header(&r, "location"), expected);
}

// ---------------------------------------------------------------------------------------
// Cookies
// ---------------------------------------------------------------------------------------

/// Over plain HTTP neither the session cookie nor the form-token cookie is `Secure`, even
/// when an untrusted client claims `X-Forwarded-Proto: https`.
fn cookies_are_not_secure_over_plain_http(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("alice", PASSWORD, false);
    for claims_https in [false, true] {
        let mut b = WebClient::new(&s);
        if claims_https {
            b.extra_headers
                .push(("X-Forwarded-Proto".to_owned(), "https".to_owned()));
            b.extra_headers
                .push(("Forwarded".to_owned(), "proto=https".to_owned()));
        }
        let r = b.get("/user/login");
        status(&r, 200);
        let csrf = set_cookie(&r.headers, "forge_csrf")
            .unwrap_or_else(|| panic!("no form-token cookie: {}", r.describe()));
        assert!(
            !is_secure_cookie(csrf),
            "claims https {claims_https}: {csrf}"
        );
        let r = b.sign_in("alice", PASSWORD);
        status(&r, 303);
        let session = set_cookie(&r.headers, "forge_session")
            .unwrap_or_else(|| panic!("no session cookie: {}", r.describe()));
        assert!(
            !is_secure_cookie(session),
            "claims https {claims_https}: {session}"
        );
        assert!(session.contains("HttpOnly"), "{session}");
    }
}

/// Behind a trusted proxy that says `https`, both cookies are `Secure`; without that header
/// they are not.
fn cookies_are_secure_when_a_trusted_proxy_says_https(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1".to_owned()];
    });
    s.create_user("alice", PASSWORD, false);
    for (https, headers) in [
        (true, vec![("X-Forwarded-Proto", "https")]),
        (true, vec![("Forwarded", "proto=https")]),
        (false, vec![]),
        (false, vec![("X-Forwarded-Proto", "http")]),
    ] {
        let mut b = WebClient::new(&s);
        b.extra_headers = headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        let r = b.get("/user/login");
        status(&r, 200);
        let csrf = set_cookie(&r.headers, "forge_csrf")
            .unwrap_or_else(|| panic!("no form-token cookie: {}", r.describe()));
        assert_eq!(is_secure_cookie(csrf), https, "{headers:?}: {csrf}");
        let r = b.sign_in("alice", PASSWORD);
        status(&r, 303);
        let session = set_cookie(&r.headers, "forge_session")
            .unwrap_or_else(|| panic!("no session cookie: {}", r.describe()));
        assert_eq!(is_secure_cookie(session), https, "{headers:?}: {session}");
        // Sign-out's removal carries the same flag.
        let r = b.submit("/", "/user/logout", &[]);
        status(&r, 303);
        let cleared = set_cookie(&r.headers, "forge_session").expect("cleared cookie");
        assert_eq!(is_secure_cookie(cleared), https, "{headers:?}: {cleared}");
    }
}

/// Sends `request` (with `Connection: close`) over TLS, trusting only `ca`, and reads the
/// response until the server closes the connection.
fn tls_exchange(addr: SocketAddr, ca: &str, request: &[u8]) -> RawResponse {
    let mut roots = RootCertStore::empty();
    roots
        .add(crate::tls::der(ca))
        .expect("trust the certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from("localhost").expect("server name");
    let conn = ClientConnection::new(Arc::new(config), name).expect("TLS client");
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let mut tls = StreamOwned::new(conn, tcp);
    tls.write_all(request).expect("send over TLS");
    tls.flush().expect("flush");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            // A close without close_notify still leaves what arrived.
            Err(_) => break,
        }
    }
    RawResponse::parse(&bytes)
}

/// Over the server's own TLS both cookies are `Secure`, and URLs are `https`.
fn cookies_are_secure_over_the_servers_own_tls(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = crate::tls::certificate(dir.path(), "server");
    let s = TestServer::start_with(backend, |c| {
        c.tls.cert = cert.clone().into();
        c.tls.key = key.into();
    });
    s.create_user("alice", PASSWORD, false);
    let host = format!("localhost:{}", s.addr.port());

    let page = tls_exchange(
        s.addr,
        &cert,
        format!("GET /user/login HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    raw_status(&page, 200);
    let csrf_cookie = set_cookie(&page.headers, "forge_csrf")
        .unwrap_or_else(|| panic!("no form-token cookie: {:?}", page.headers))
        .to_owned();
    assert!(is_secure_cookie(&csrf_cookie), "{csrf_cookie}");
    let csrf = csrf_of(&page.text());
    let cookie_value = csrf_cookie.split(';').next().unwrap_or_default().to_owned();

    let body = format!(
        "_csrf={}&redirect_to=%2F&user_name=alice&password={}",
        form_encode(&csrf),
        form_encode(PASSWORD)
    );
    let r = tls_exchange(
        s.addr,
        &cert,
        format!(
            "POST /user/login HTTP/1.1\r\nHost: {host}\r\nAccept: text/html\r\nCookie: {cookie_value}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    raw_status(&r, 303);
    let session = set_cookie(&r.headers, "forge_session")
        .unwrap_or_else(|| panic!("no session cookie: {:?}", r.headers));
    assert!(is_secure_cookie(session), "{session}");

    // The connection's own scheme makes the URLs too (forged headers still ignored).
    let r = tls_exchange(
        s.addr,
        &cert,
        format!(
            "GET /v2/ HTTP/1.1\r\nHost: {host}\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: evil.example\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    raw_status(&r, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            format!(
                "Bearer realm=\"https://{host}/v2/token\",service=\"container_registry\",scope=\"*\""
            )
            .as_str()
        ),
        "{:?}",
        r.headers
    );
}

// ---------------------------------------------------------------------------------------
// max_concurrent_uploads
// ---------------------------------------------------------------------------------------

/// The announced size of the slow uploads.
const SLOW_SIZE: usize = 1_000_000;

/// Sends the head of an upload of `SLOW_SIZE` bytes to `path` (plus `extra` header lines,
/// each ending in CRLF) and `first` bytes of its body, and keeps the connection open.
fn start_upload(s: &TestServer, path: &str, extra: &str, first: usize) -> TcpStream {
    let mut stream = s.connect();
    let auth = user2().header_value().expect("credentials");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {SLOW_SIZE}\r\n{extra}\r\n",
        s.addr
    );
    stream.write_all(head.as_bytes()).expect("send head");
    if first > 0 {
        stream.write_all(&vec![7u8; first]).expect("send some body");
    }
    stream
}

/// `forge_login_refusals_total` from `/metrics`.
fn login_refusals(s: &TestServer) -> f64 {
    let r = s.get("/metrics", &ANON);
    status(&r, 200);
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix("forge_login_refusals_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no forge_login_refusals_total in {}", r.text()))
}

/// `forge_uploads_in_progress` from `/metrics`.
fn uploads_in_progress(s: &TestServer) -> f64 {
    let r = s.get("/metrics", &ANON);
    status(&r, 200);
    r.text()
        .lines()
        .find_map(|l| l.strip_prefix("forge_uploads_in_progress "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no forge_uploads_in_progress in {}", r.text()))
}

/// Asserts a quick 503 with `Retry-After` on `stream`, before any interim response.
#[track_caller]
fn refused_busy(stream: &mut TcpStream, what: &str) {
    let started = Instant::now();
    let (interim, r) = read_final_response(stream, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{what}: the refusal took {:?}",
        started.elapsed()
    );
    assert!(interim.is_empty(), "{what}: interim responses {interim:?}");
    raw_status(&r, 503);
    let wait: u64 = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("{what}: no Retry-After in {:?}", r.headers))
        .parse()
        .expect("Retry-After in seconds");
    assert!(wait >= 1, "{what}: Retry-After {wait}");
    assert!(
        r.text().contains("too many uploads in progress"),
        "{what}: {:?}",
        r.text()
    );
}

fn uploads_past_the_limit_are_refused_before_their_body(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.server.max_concurrent_uploads = 4);
    with_user2(&s);
    status(&upload_app(&s, PKG_FILE, &[]), 201);
    let before = s.stored_items();

    // Four slow uploads hold every slot.
    let mut slow: Vec<TcpStream> = (0..4)
        .map(|i| {
            start_upload(
                &s,
                &file_path(OWNER, "slow", "1.0", &format!("s{i}.bin")),
                "",
                10,
            )
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || uploads_in_progress(&s) == 4.0),
        "the slow uploads did not start: {} in progress",
        uploads_in_progress(&s)
    );

    // The fifth and sixth, sent at once, are refused without their body.
    let mut fifth = start_upload(&s, &file_path(OWNER, "refused", "1.0", "r5.bin"), "", 0);
    let mut sixth = start_upload(&s, &file_path(OWNER, "refused", "1.0", "r6.bin"), "", 0);
    refused_busy(&mut fifth, "fifth upload");
    refused_busy(&mut sixth, "sixth upload");
    // A client that waits for 100 Continue gets the 503 instead.
    let mut waiting = start_upload(
        &s,
        &file_path(OWNER, "refused", "1.0", "r7.bin"),
        "Expect: 100-continue\r\n",
        0,
    );
    refused_busy(&mut waiting, "upload expecting 100-continue");
    // PyPI and the container registry share the slots.
    let r = s.request(
        "POST",
        &format!("/v2/{OWNER}/app/blobs/uploads/"),
        &user2(),
        &[],
        Some(b""),
    );
    status(&r, 503);
    retry_after(&r, 60);
    // Downloads are not uploads.
    let r = s.get(&app_file(PKG_FILE), &ANON);
    status(&r, 200);
    assert_eq!(r.body, PKG_CONTENT);

    // Two slow uploads finish: both stored, and uploads are taken again.
    for (i, stream) in slow.iter_mut().enumerate().take(2) {
        stream
            .write_all(&vec![7u8; SLOW_SIZE - 10])
            .expect("send the rest");
        let (_, r) = read_final_response(stream, Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("slow upload {i}: {e}"));
        raw_status(&r, 201);
    }
    status(&upload_app(&s, "after-finish.bin", &[]), 201);
    // The other two are dropped: their slots come back.
    slow.truncate(2);
    drop(slow);
    assert!(
        wait_until(Duration::from_secs(10), || uploads_in_progress(&s) == 0.0),
        "slots still taken: {}",
        uploads_in_progress(&s)
    );
    let parallel: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let s = &s;
                scope.spawn(move || upload_app(s, &format!("p{i}.bin"), &[]).status)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("upload thread"))
            .collect()
    });
    assert_eq!(parallel, vec![201u16; 4]);

    // Nothing of the refused or dropped uploads was stored.
    assert!(s.stored_version(OWNER, "refused", "1.0").is_none());
    let slow_files: Vec<String> = s
        .stored_package_files(OWNER, "slow", "1.0")
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(slow_files.len(), 2, "{slow_files:?}");
    assert!(
        slow_files.contains(&"s0.bin".to_owned()) && slow_files.contains(&"s1.bin".to_owned()),
        "{slow_files:?}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || s.pending_uploads() == 0),
        "temporary uploads left: {}",
        s.pending_uploads()
    );
    // One new blob: the two finished slow uploads share their content.
    let after = s.stored_items();
    assert_eq!(
        after.len(),
        before.len() + 1,
        "before {before:?}, after {after:?}"
    );
}

/// The status of the first response head that arrives on `stream` within `within`.
fn first_status(stream: &mut TcpStream, within: Duration) -> Option<u16> {
    stream.set_read_timeout(Some(within)).expect("read timeout");
    let mut bytes = Vec::new();
    let mut buf = [0u8; 1024];
    while !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// 0 means no limit.
fn zero_uploads_limit_means_none(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.server.max_concurrent_uploads = 0);
    with_user2(&s);
    let mut slow: Vec<TcpStream> = (0..6)
        .map(|i| {
            start_upload(
                &s,
                &file_path(OWNER, "slow", "1.0", &format!("s{i}.bin")),
                "",
                10,
            )
        })
        .collect();
    assert!(
        wait_until(Duration::from_secs(10), || uploads_in_progress(&s) == 6.0),
        "{} in progress",
        uploads_in_progress(&s)
    );
    let mut waiting = start_upload(
        &s,
        &file_path(OWNER, "slow", "1.0", "expect.bin"),
        "Expect: 100-continue\r\n",
        0,
    );
    assert_eq!(
        first_status(&mut waiting, Duration::from_secs(5)),
        Some(100),
        "a client waiting for 100 Continue should get it when there is no limit"
    );
    slow.clear();
}

// ---------------------------------------------------------------------------------------
// Password-guessing limits
// ---------------------------------------------------------------------------------------

/// `GET /api/v1/user` with a password.
fn whoami(s: &TestServer, user: &str, password: &str) -> Resp {
    s.get("/api/v1/user", &Auth::basic(user, password))
}

/// The same with a client address as a proxy reports it.
fn whoami_from(s: &TestServer, user: &str, password: &str, forwarded_for: &str) -> Resp {
    s.get_with(
        "/api/v1/user",
        &Auth::basic(user, password),
        &[("X-Forwarded-For", forwarded_for)],
    )
}

/// A 429 of the limits, with `Retry-After` within the window and a message.
#[track_caller]
fn locked(r: &Resp, window_secs: u64) {
    status(r, 429);
    retry_after(r, window_secs);
    assert!(
        r.text().contains("too many failed attempts"),
        "{}",
        r.describe()
    );
}

fn wrong_passwords_lock_the_account(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    s.create_user("other", PASSWORD, false);
    // Defaults: 10 per account, 50 per address, 15 minutes.
    assert_eq!(s.config().auth.login_failures_per_account, 10);
    assert_eq!(s.config().auth.login_failures_per_address, 50);
    assert_eq!(
        s.config().auth.login_failure_window,
        Duration::from_secs(900)
    );
    let token = s.token(OWNER, "ci", "write:package,read:user");
    status(&upload_app(&s, PKG_FILE, &[]), 201);
    let r = s.request("POST", &links_path(PKG_FILE), &user2(), &[], None);
    status(&r, 201);
    let link = r.json()["url"]
        .as_str()
        .expect("url")
        .strip_prefix(&s.base)
        .expect("own URL")
        .to_owned();

    for i in 0..10 {
        let r = whoami(&s, OWNER, &format!("wrong-{i}"));
        status(&r, 401);
    }
    assert_eq!(login_refusals(&s), 0.0);
    // The eleventh attempt is refused unchecked, even with the right password.
    let r = whoami(&s, OWNER, PASSWORD);
    locked(&r, 900);
    assert!(r.json()["message"].is_string(), "{}", r.describe());
    let r = whoami(&s, OWNER, "wrong-again");
    locked(&r, 900);
    // The metrics count the refusals.
    assert_eq!(login_refusals(&s), 2.0);
    // Every surface that takes the password.
    locked(&upload_app(&s, "locked.bin", &[]), 900);
    locked(&s.get(&app_file(PKG_FILE), &user2()), 900);
    let r = s.get("/v2/token", &user2());
    status(&r, 429);
    retry_after(&r, 900);
    let r = s.post_json(
        &format!("/api/v1/users/{OWNER}/tokens"),
        &user2(),
        &serde_json::json!({"name": "minted", "scopes": ["write:package"]}),
    );
    locked(&r, 900);
    let mut b = WebClient::new(&s);
    let r = b.sign_in(OWNER, PASSWORD);
    status(&r, 429);
    retry_after(&r, 900);
    assert!(b.cookie("forge_session").is_none());

    // Access tokens (also as the Basic password) and signed links keep working.
    let r = s.get("/api/v1/user", &Auth::token(&token));
    status(&r, 200);
    assert_eq!(r.json()["login"], OWNER);
    status(&s.get("/api/v1/user", &Auth::basic(OWNER, &token)), 200);
    status(
        &s.put(&app_file("by-token.bin"), PKG_CONTENT, &Auth::token(&token)),
        201,
    );
    let r = s.get(&link, &ANON);
    status(&r, 200);
    assert_eq!(r.body, PKG_CONTENT);
    // Another account, from the same address, is not locked.
    status(&whoami(&s, "other", PASSWORD), 200);
    // Nothing was stored by the refused upload.
    let files: Vec<String> = s
        .stored_package_files(OWNER, PKG, PKG_VERSION)
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert!(!files.contains(&"locked.bin".to_owned()), "{files:?}");
    // Unknown accounts are counted the same way, without revealing that they do not exist.
    for _ in 0..10 {
        status(&whoami(&s, "nobody", "guess"), 401);
    }
    locked(&whoami(&s, "nobody", "guess"), 900);
}

fn the_lock_ends_with_the_window(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.auth.login_failures_per_account = 3;
        c.auth.login_failure_window = Duration::from_secs(2);
    });
    with_user2(&s);
    for _ in 0..3 {
        status(&whoami(&s, OWNER, "wrong"), 401);
    }
    locked(&whoami(&s, OWNER, PASSWORD), 2);
    std::thread::sleep(Duration::from_secs(3));
    status(&whoami(&s, OWNER, PASSWORD), 200);
    // A success starts the count afresh: two more failures do not lock.
    for _ in 0..2 {
        status(&whoami(&s, OWNER, "wrong"), 401);
    }
    status(&whoami(&s, OWNER, PASSWORD), 200);
    for _ in 0..3 {
        status(&whoami(&s, OWNER, "wrong"), 401);
    }
    locked(&whoami(&s, OWNER, PASSWORD), 2);
}

/// Every surface that takes a password counts toward the same limit.
fn failures_count_across_surfaces(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.auth.login_failures_per_account = 8);
    with_user2(&s);
    let wrong = Auth::basic(OWNER, "wrong");
    status(&s.get("/v2/token", &wrong), 401);
    status(&s.get("/v2/token", &wrong), 401);
    let create = |auth: &Auth| {
        s.post_json(
            &format!("/api/v1/users/{OWNER}/tokens"),
            auth,
            &serde_json::json!({"name": "minted", "scopes": ["write:package"]}),
        )
    };
    unauthorized(&create(&wrong));
    unauthorized(&create(&wrong));
    unauthorized(&s.put(&app_file(PKG_FILE), PKG_CONTENT, &wrong));
    unauthorized(&s.put(&app_file(PKG_FILE), PKG_CONTENT, &wrong));
    let mut b = WebClient::new(&s);
    for _ in 0..2 {
        let r = b.sign_in(OWNER, "wrong");
        status(&r, 200);
        assert!(r.text().contains("Wrong user name or password."));
    }
    // Eight failures: locked everywhere.
    locked(&whoami(&s, OWNER, PASSWORD), 900);
    let r = b.sign_in(OWNER, PASSWORD);
    status(&r, 429);
    assert!(s.stored_versions(OWNER).is_empty());
}

fn failures_from_one_address_lock_every_account(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.auth.login_failures_per_account = 100;
        c.auth.login_failures_per_address = 5;
    });
    for i in 1..=6 {
        s.create_user(&format!("a{i}"), PASSWORD, false);
    }
    let token = s.token("a6", "ci", "read:user");
    for i in 1..=5 {
        status(&whoami(&s, &format!("a{i}"), "wrong"), 401);
    }
    // The sixth account, never tried, is locked from this address.
    locked(&whoami(&s, "a6", PASSWORD), 900);
    locked(&whoami(&s, "a1", PASSWORD), 900);
    status(&s.get("/api/v1/user", &Auth::token(&token)), 200);
    // Without trusted proxies a forged X-Forwarded-For does not escape the limit.
    locked(&whoami_from(&s, "a6", PASSWORD, "10.9.9.9"), 900);
}

fn trusted_proxies_name_the_limited_address(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.server.trusted_proxies = vec!["127.0.0.1".to_owned()];
        c.auth.login_failures_per_account = 100;
        c.auth.login_failures_per_address = 3;
    });
    for i in 1..=4 {
        s.create_user(&format!("b{i}"), PASSWORD, false);
    }
    for i in 1..=3 {
        status(&whoami_from(&s, &format!("b{i}"), "wrong", "10.0.0.1"), 401);
    }
    locked(&whoami_from(&s, "b4", PASSWORD, "10.0.0.1"), 900);
    // Another client behind the same proxy is not affected, nor is the proxy itself.
    status(&whoami_from(&s, "b4", PASSWORD, "10.0.0.2"), 200);
    status(&whoami(&s, "b4", PASSWORD), 200);
    // The client is the last address before the trusted hops.
    status(&whoami_from(&s, "b4", PASSWORD, "10.0.0.1, 127.0.0.1"), 429);
    status(&whoami_from(&s, "b4", PASSWORD, "10.0.0.1, 10.0.0.3"), 200);
    // The web form counts the same client address.
    let mut b = WebClient::new(&s);
    b.extra_headers
        .push(("X-Forwarded-For".to_owned(), "10.0.0.1".to_owned()));
    status(&b.sign_in("b4", PASSWORD), 429);
    let mut b = WebClient::new(&s);
    b.extra_headers
        .push(("X-Forwarded-For".to_owned(), "10.0.0.2".to_owned()));
    status(&b.sign_in("b4", PASSWORD), 303);
}

/// Two instances on one PostgreSQL database share the counts.
fn failures_are_shared_between_instances(backend: Backend) {
    assert_eq!(backend, Backend::Postgres);
    let configure = |c: &mut forge_server::config::Config| {
        c.auth.login_failures_per_account = 3;
    };
    let a = TestServer::start_with(Backend::Postgres, configure);
    let mut env_b = TestEnv::on_postgres(&a.env.database_url());
    configure(&mut env_b.config);
    let b = env_b.start();
    with_user2(&a);
    let token = a.token(OWNER, "ci", "read:user");
    status(&whoami(&b, OWNER, PASSWORD), 200);
    for _ in 0..3 {
        status(&whoami(&a, OWNER, "wrong"), 401);
    }
    locked(&whoami(&b, OWNER, PASSWORD), 900);
    locked(&whoami(&a, OWNER, PASSWORD), 900);
    status(&b.get("/api/v1/user", &Auth::token(&token)), 200);
    drop(b);
}

#[test]
fn failures_are_shared_between_instances_postgres() {
    run_scenario(
        Backend::Postgres,
        "security_shared_failures",
        failures_are_shared_between_instances,
    );
}

// ---------------------------------------------------------------------------------------
// The last administrator
// ---------------------------------------------------------------------------------------

const LAST_ADMIN: &str = "the change would leave no site administrator who can sign in";

fn admin_user_path(name: &str) -> String {
    format!("/api/v1/admin/users/{}", seg(name))
}

fn patch_user(s: &TestServer, caller: &Auth, name: &str, body: &str) -> Resp {
    json_request(s, "PATCH", &admin_user_path(name), caller, body)
}

#[track_caller]
fn refused_last_admin(r: &Resp) {
    status(r, 400);
    assert_eq!(r.json()["message"], LAST_ADMIN, "{}", r.describe());
}

/// Administrators that may sign in (active, not prohibited), by name.
fn powerful_admins(s: &TestServer) -> Vec<String> {
    s.db()
        .list_users(None)
        .expect("list users")
        .into_iter()
        .filter(|u| u.is_admin && u.is_active && !u.prohibit_login)
        .map(|u| u.name)
        .collect()
}

fn the_last_admin_keeps_its_powers(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("root", PASSWORD, true);
    with_user2(&s);
    let root = Auth::basic("root", PASSWORD);

    for body in [
        r#"{"admin":false}"#,
        r#"{"active":false}"#,
        r#"{"prohibit_login":true}"#,
        r#"{"admin":false,"active":false,"prohibit_login":true}"#,
    ] {
        refused_last_admin(&patch_user(&s, &root, "root", body));
    }
    assert_eq!(powerful_admins(&s), ["root"]);
    // Other fields of the last admin may change, and other users may be deactivated.
    let r = patch_user(&s, &root, "root", r#"{"full_name":"The Root"}"#);
    status(&r, 200);
    assert_eq!(r.json()["full_name"], "The Root");
    status(&patch_user(&s, &root, OWNER, r#"{"active":false}"#), 200);
    // Nobody deletes themselves, the last admin least of all.
    let r = s.delete(&admin_user_path("root"), &root);
    assert!(
        (400..500).contains(&r.status),
        "the last admin was deleted: {}",
        r.describe()
    );
    assert!(r.json()["message"].is_string(), "{}", r.describe());
    assert!(s.owner_id("root").is_some());
    // The database refuses too, whoever asks.
    let root_id = s.user_id("root");
    assert!(
        matches!(
            s.db().delete_owner_if_unused(root_id),
            Err(packages_db::DbError::LastAdmin)
        ),
        "the database deleted the last admin"
    );
    assert!(s.owner_id("root").is_some());

    // Inactive or prohibited administrators are no remaining admin.
    s.create_user("dormant", PASSWORD, true);
    s.update_user(
        "dormant",
        &UserChanges {
            is_active: Some(false),
            ..UserChanges::default()
        },
    );
    s.create_user("banned", PASSWORD, true);
    s.update_user(
        "banned",
        &UserChanges {
            prohibit_login: Some(true),
            ..UserChanges::default()
        },
    );
    for body in [
        r#"{"admin":false}"#,
        r#"{"active":false}"#,
        r#"{"prohibit_login":true}"#,
    ] {
        refused_last_admin(&patch_user(&s, &root, "root", body));
    }
    assert!(matches!(
        s.db().delete_owner_if_unused(root_id),
        Err(packages_db::DbError::LastAdmin)
    ));
    // Re-activating one gives the site a second admin; then root may step down.
    status(&patch_user(&s, &root, "dormant", r#"{"active":true}"#), 200);
    let r = patch_user(&s, &root, "root", r#"{"admin":false}"#);
    status(&r, 200);
    assert_eq!(powerful_admins(&s), ["dormant"]);
    // root is no admin any more.
    status(&patch_user(&s, &root, "dormant", r#"{"admin":false}"#), 403);
    let dormant = Auth::basic("dormant", PASSWORD);
    refused_last_admin(&patch_user(
        &s,
        &dormant,
        "dormant",
        r#"{"prohibit_login":true}"#,
    ));
    // Deleting a powerless admin is fine.
    status(&s.delete(&admin_user_path("banned"), &dormant), 204);
    assert_eq!(powerful_admins(&s), ["dormant"]);
}

fn concurrent_demotions_leave_one_admin(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("alpha", PASSWORD, true);
    s.create_user("beta", PASSWORD, true);
    for round in 0..5 {
        assert_eq!(powerful_admins(&s).len(), 2, "round {round}");
        let body = match round % 3 {
            0 => r#"{"admin":false}"#,
            1 => r#"{"active":false}"#,
            _ => r#"{"prohibit_login":true}"#,
        };
        let barrier = Barrier::new(2);
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = [("alpha", "beta"), ("beta", "alpha")]
                .into_iter()
                .map(|(caller, target)| {
                    let s = &s;
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let auth = Auth::basic(caller, PASSWORD);
                        barrier.wait();
                        patch_user(s, &auth, target, body).status
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("demotion thread"))
                .collect()
        });
        let ok = statuses.iter().filter(|&&c| c == 200).count();
        assert_eq!(ok, 1, "round {round} ({body}): {statuses:?}");
        assert!(
            // The loser is refused as the last admin, or is no admin (or may not sign in)
            // by the time its request is checked.
            statuses.iter().all(|&c| [200, 400, 401, 403].contains(&c)),
            "round {round}: {statuses:?}"
        );
        let left = powerful_admins(&s);
        assert_eq!(left.len(), 1, "round {round} ({body}): {left:?}");
        // Restore the demoted one for the next round.
        let demoted = if left[0] == "alpha" { "beta" } else { "alpha" };
        s.update_user(
            demoted,
            &UserChanges {
                is_admin: Some(true),
                is_active: Some(true),
                prohibit_login: Some(false),
                ..UserChanges::default()
            },
        );
    }
}

// ---------------------------------------------------------------------------------------
// PyPI through the same intake
// ---------------------------------------------------------------------------------------

const BOUNDARY: &str = "forge-security-boundary";

/// A minimal wheel of `name` `version`: a zip of stored entries with core metadata.
fn wheel(name: &str, version: &str) -> Vec<u8> {
    let dist = name.replace(['-', '.'], "_").to_lowercase();
    let metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nText\n");
    let entries = [
        (format!("{dist}/__init__.py"), "VALUE = 1\n".to_owned()),
        (format!("{dist}-{version}.dist-info/METADATA"), metadata),
    ];
    let mut zip = Vec::new();
    for (path, data) in &entries {
        zip.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        zip.extend_from_slice(&[20, 0, 0, 0, 0, 0]);
        zip.extend_from_slice(&[0; 8]);
        zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
        zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
        zip.extend_from_slice(&(path.len() as u16).to_le_bytes());
        zip.extend_from_slice(&0u16.to_le_bytes());
        zip.extend_from_slice(path.as_bytes());
        zip.extend_from_slice(data.as_bytes());
    }
    zip.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    zip.extend_from_slice(&[0; 18]);
    zip
}

/// twine's upload form for a wheel of `name` `version`, padded so it takes several pieces.
fn pypi_form(name: &str, version: &str) -> Vec<u8> {
    let whl = wheel(name, version);
    let sha = forge_e2e::sha256_hex(&whl);
    let file = format!(
        "{}-{version}-py3-none-any.whl",
        name.replace(['-', '.'], "_")
    );
    let description = "a long description ".repeat(200);
    let mut body = Vec::new();
    for (k, v) in [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("metadata_version", "2.1"),
        ("name", name),
        ("version", version),
        ("filetype", "bdist_wheel"),
        ("pyversion", "py3"),
        ("sha256_digest", sha.as_str()),
        ("description", description.as_str()),
    ] {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&whl);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn pypi_versions(s: &TestServer) -> usize {
    let owner = s.owner_id(OWNER).expect("owner");
    let (rows, _) = s
        .db()
        .list_versions(
            owner,
            &packages_db::VersionFilter {
                package_type: Some("pypi".into()),
                ..Default::default()
            },
            packages_db::Page { page: 1, limit: 10 },
        )
        .expect("list versions");
    rows.len()
}

fn a_trickling_pypi_upload_is_cut(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.server.idle_timeout = Duration::from_secs(1);
    });
    with_user2(&s);
    let body = pypi_form("trickle", "1.0");
    let auth = user2().header_value().expect("credentials");
    let mut stream = s.connect();
    let head = format!(
        "POST /api/packages/{OWNER}/pypi HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        s.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    let started = Instant::now();
    // Pieces with pauses longer than the idle timeout, looking for an answer in each pause.
    let mut answer = None;
    for piece in body.chunks(body.len() / 4 + 1) {
        if stream.write_all(piece).is_err() {
            break;
        }
        if let Ok((_, r)) = read_final_response(&mut stream, Duration::from_millis(1600)) {
            answer = Some(r);
            break;
        }
    }
    let r = match answer {
        Some(r) => r,
        None => {
            read_final_response(&mut stream, Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("no answer to the trickling upload: {e}"))
                .1
        }
    };
    raw_status(&r, 408);
    assert!(
        r.text().contains("request body timed out"),
        "{:?}",
        r.text()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(pypi_versions(&s), 0);
    assert!(
        wait_until(Duration::from_secs(5), || s.stored_items().is_empty()),
        "content left behind: {:?}",
        s.stored_items()
    );
    // The same form sent at once is taken.
    let r = s.request(
        "POST",
        &format!("/api/packages/{OWNER}/pypi"),
        &user2(),
        &[(
            "Content-Type",
            &format!("multipart/form-data; boundary={BOUNDARY}"),
        )],
        Some(&body),
    );
    status(&r, 201);
    assert_eq!(pypi_versions(&s), 1);
}

// ---------------------------------------------------------------------------------------
// The test-only format stays out of production builds
// ---------------------------------------------------------------------------------------

#[test]
fn production_formats_have_no_test_format() {
    let production: Vec<&str> = forge_server::formats::production().type_names().collect();
    assert!(
        !production.contains(&"single"),
        "the test format is in the production list: {production:?}"
    );
    for name in ["generic", "pypi", "container"] {
        assert!(production.contains(&name), "{name} missing: {production:?}");
    }
    // The harness adds it at run time.
    assert!(forge_e2e::formats().type_names().any(|n| n == "single"));
}

/// The real binary does not serve the test format: its routes are 404 as for any unknown
/// type, while the production formats answer.
fn the_binary_does_not_serve_the_test_format(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let pg = (backend == Backend::Postgres).then(PgDatabase::create);
    let url = pg.as_ref().map(|p| p.url().to_owned()).unwrap_or_default();
    let command = |args: &[&str]| {
        let mut cmd = crate::config::forge(args);
        cmd.env("FORGE_DATA_DIR", &data)
            .env("FORGE_BCRYPT_COST", "4")
            .stderr(Stdio::null());
        if !url.is_empty() {
            cmd.env("FORGE_DATABASE_URL", &url);
        }
        cmd
    };
    let created = command(&[
        "admin",
        "user",
        "create",
        "--username",
        OWNER,
        "--password",
        PASSWORD,
        "--email",
        "user2@example.com",
    ])
    .status()
    .expect("create user");
    assert!(created.success());
    let served = crate::config::serve(|addr| {
        let mut cmd = command(&["serve"]);
        cmd.env("FORGE_LISTEN", addr);
        cmd
    });
    let base = format!("http://{}", served.addr);
    let agent = forge_e2e::agent();
    let send = |method: &str, path: &str, body: Option<&[u8]>| {
        forge_e2e::send(
            &agent,
            method,
            &format!("{base}{path}"),
            &user2(),
            &[],
            body,
        )
    };
    status(
        &send(
            "PUT",
            "/api/packages/user2/generic/tool/1/t.bin",
            Some(b"x"),
        ),
        201,
    );
    for (method, body) in [("PUT", Some(&b"abc"[..])), ("GET", None), ("DELETE", None)] {
        let unknown = send(method, "/api/packages/user2/nosuchtype/tool/1", body);
        status(&unknown, 404);
        let r = send(method, "/api/packages/user2/single/tool/1", body);
        status(&r, 404);
        assert_eq!(r.text(), unknown.text(), "{method}: {}", r.describe());
    }
    drop(agent);
    served.stop();
}

forge_e2e::backends!(
    root_url_prefixes_every_absolute_url,
    forwarded_headers_from_untrusted_peers_are_ignored,
    forwarded_headers_from_peers_outside_the_list_are_ignored,
    forwarded_headers_from_trusted_proxies_are_believed,
    cookies_are_not_secure_over_plain_http,
    cookies_are_secure_when_a_trusted_proxy_says_https,
    cookies_are_secure_over_the_servers_own_tls,
    uploads_past_the_limit_are_refused_before_their_body,
    zero_uploads_limit_means_none,
    wrong_passwords_lock_the_account,
    the_lock_ends_with_the_window,
    failures_count_across_surfaces,
    failures_from_one_address_lock_every_account,
    trusted_proxies_name_the_limited_address,
    the_last_admin_keeps_its_powers,
    concurrent_demotions_leave_one_admin,
    a_trickling_pypi_upload_is_cut,
    the_binary_does_not_serve_the_test_format,
);

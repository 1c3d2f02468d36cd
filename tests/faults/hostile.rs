//! Hostile input: thousands of generated malformed requests. None may be answered 500 (a
//! 503 or 507 would be honest, a 500 is a bug), none may crash the server, and health stays
//! 200 throughout.

use std::io::{Read, Write};
use std::time::Duration;

use forge_e2e::{file_path, Auth, Backend, TestServer, ANON};

/// A small deterministic generator (xorshift64*): the same requests on every run, so a
/// failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "PUT",
    "DELETE",
    "POST",
    "PATCH",
    "OPTIONS",
    "TRACE",
    "CONNECT",
    "FOO",
    "get",
    "G\u{0}T",
    "PUTPUTPUTPUTPUTPUTPUTPUTPUTPUTPUTPUTPUTPUTPUT",
];

fn segment(rng: &mut Rng) -> String {
    let long = "a".repeat(10_000);
    let choices: [&str; 22] = [
        "app",
        "1.0",
        "f.bin",
        "%2e%2e",
        "..",
        ".",
        "%2e",
        "%00",
        "a%00b",
        "%ff%fe",
        "%c3%28",
        "%",
        "%zz",
        "%2F..%2F..%2Fetc%2Fpasswd",
        "a%0d%0aX-Injected:%201",
        "\u{e9}t\u{e9}",
        "a\\b",
        "%20",
        "+",
        "-",
        "~user",
        &long,
    ];
    rng.pick(&choices).to_string()
}

fn path(rng: &mut Rng) -> String {
    let prefix = *rng.pick(&[
        "/api/packages/alice/generic",
        "/api/packages/alice",
        "/api/packages",
        "/api/packages/%00/generic",
        "/api/packages/alice/%ff",
        "/api/packages/alice/generic/",
        "/api/v1/packages/alice",
        "/api/v1/users/alice/tokens",
        "/api/v1/admin/users",
        "/api/v1/orgs",
        "/api/v1/teams",
        "/api/healthz",
        "//api//packages//alice",
        "*",
        "http://x/api/packages/alice/generic",
    ]);
    let mut p = prefix.to_owned();
    for _ in 0..rng.below(5) {
        p.push('/');
        p.push_str(&segment(rng));
    }
    if rng.below(4) == 0 {
        p.push_str(*rng.pick(&[
            "?q=%00",
            "?q=%ff",
            "?page=-1&limit=99999999999999999999",
            "?type=%2e%2e",
            "?q=",
            "?&&&==",
            "?token=abc",
        ]));
    }
    p
}

fn header(rng: &mut Rng, token: &str) -> String {
    let huge = "x".repeat(64 * 1024);
    let long_token = "t".repeat(10_000);
    match rng.below(16) {
        0 => format!("X-Big: {huge}"),
        1 => "Content-Length: 99999999999999999999".to_owned(),
        2 => "Content-Length: -1".to_owned(),
        3 => "Content-Length: 5\r\nContent-Length: 6".to_owned(),
        4 => rng
            .pick(&[
                "Range: bytes=-",
                "Range: bytes=99999999999999999999-",
                "Range: bytes=5-1",
                "Range: bytes=--1",
                "Range: bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9",
                "Range: bytes=18446744073709551615-18446744073709551615",
                "Range: bytes=-18446744073709551616",
                "Range: lines=1-2",
                "If-Range: \"x\"",
            ])
            .to_string(),
        5 => rng
            .pick(&[
                "Authorization: Basic !!!",
                "Authorization: Basic YWxpY2U=",
                "Authorization: Basic Og==",
                "Authorization: Bearer",
                "Authorization: token ",
                "Authorization: Digest x",
                "Authorization: Basic \u{1}\u{2}",
            ])
            .to_string(),
        6 => format!("Authorization: token {long_token}"),
        7 => format!("Authorization: token {token}"),
        8 => rng
            .pick(&[
                "If-Match: W/\"x\"",
                "If-None-Match: *, ,,",
                "If-Modified-Since: yesterday",
                "If-Unmodified-Since: Thu, 99 Foo 1970 00:00:00 GMT",
                "If-Match: \"\u{ff}\"",
            ])
            .to_string(),
        9 => "Expect: 100-continue".to_owned(),
        10 => "Expect: 999-nonsense".to_owned(),
        11 => "Content-Type: application/json".to_owned(),
        12 => "Transfer-Encoding: gzip, chunked".to_owned(),
        13 => "Host: \u{0}".to_owned(),
        14 => "NoColonHeader".to_owned(),
        _ => " folded: header".to_owned(),
    }
}

fn body(rng: &mut Rng) -> (String, Vec<u8>) {
    match rng.below(8) {
        0 => (
            "Transfer-Encoding: chunked".to_owned(),
            b"zz\r\nhello\r\n0\r\n\r\n".to_vec(),
        ),
        1 => (
            "Transfer-Encoding: chunked".to_owned(),
            b"5\r\nhel".to_vec(),
        ),
        2 => (
            "Transfer-Encoding: chunked".to_owned(),
            b"ffffffffffffffffff\r\nx\r\n".to_vec(),
        ),
        3 => (
            "Transfer-Encoding: chunked\r\nContent-Length: 3".to_owned(),
            b"3\r\nabc\r\n0\r\n\r\n".to_vec(),
        ),
        4 => ("Content-Length: 10".to_owned(), b"short".to_vec()),
        5 => (
            "Content-Length: 17".to_owned(),
            b"{\"name\":\"\\u0000\"}".to_vec(),
        ),
        6 => ("Content-Length: 4".to_owned(), vec![0xff, 0xfe, 0x00, 0x01]),
        _ => (String::new(), Vec::new()),
    }
}

/// One generated request, as bytes.
pub fn request(rng: &mut Rng, token: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let method = rng.pick(METHODS).to_string();
    let version = *rng.pick(&[
        "HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/9.9", "",
    ]);
    out.extend_from_slice(format!("{method} {} {version}\r\nHost: x\r\n", path(rng)).as_bytes());
    if rng.below(3) == 0 {
        // Invalid UTF-8 in a raw request target.
        out.extend_from_slice(b"X-Raw: \xff\xfe\r\n");
    }
    for _ in 0..rng.below(3) {
        out.extend_from_slice(header(rng, token).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let (framing, content) = body(rng);
    if !framing.is_empty() {
        out.extend_from_slice(framing.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&content);
    out
}

/// Sends `bytes` and returns the status of the answer, `None` when the connection closed
/// without one (allowed for requests that are not HTTP).
fn exchange(s: &TestServer, bytes: &[u8]) -> Option<u16> {
    let mut stream = s.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    // The server may close before reading everything it refuses.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let line = answer.split(|&b| b == b'\r').next()?;
    let text = std::str::from_utf8(line).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Requests each run sends.
pub const REQUESTS: usize = 2500;

pub fn hostile_input(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("alice", "password", false);
    let token = s.token("alice", "ci", "write:package");
    let file = file_path("alice", "app", "1.0", "f.bin");
    assert_eq!(s.put(&file, b"content", &Auth::token(&token)).status, 201);
    let mut rng = Rng::new(0x5eed_f00d);
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..REQUESTS {
        let bytes = request(&mut rng, &token);
        let status = exchange(&s, &bytes);
        assert!(
            !matches!(status, Some(500..=502 | 504..=506 | 508..)),
            "request {i} answered {status:?}: {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(400)])
        );
        *statuses
            .entry(status.map_or("closed".to_owned(), |c| c.to_string()))
            .or_default() += 1;
        if i % 250 == 0 {
            assert_eq!(
                s.get("/api/healthz", &ANON).status,
                200,
                "after request {i}"
            );
        }
    }
    println!("hostile input, {REQUESTS} requests: {statuses:?}");
    assert_eq!(s.get("/api/healthz", &ANON).status, 200);
    assert_eq!(s.get(&file, &ANON).body, b"content");
}

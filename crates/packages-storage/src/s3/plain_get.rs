//! A GET over plain HTTP whose body is read straight from the socket, for the parts of large
//! reads from an `http://` endpoint.
//!
//! ureq 2 reads every body through an 8 KiB buffer: one system call and one more copy per
//! 8 KiB, and the store, seeing a small window, sends in small segments too. Measured on
//! S3-P2, that cost more server and SeaweedFS CPU per GiB than the proxying itself. HTTPS
//! endpoints stay with ureq (TLS is its job).
//!
//! One connection per request (`Connection: close`): a part is megabytes, so a connect per
//! part is cheap, and no idle connection can have gone stale in between.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use url::{Position, Url};

use super::client::{ContentRange, GetAnswer, S3Failure};
use super::xml;

/// The same limits as the ureq agent's.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Longer status line and headers are refused.
const MAX_HEAD: usize = 64 << 10;
/// What is read of an error answer for its S3 code.
const MAX_ERROR_BODY: u64 = 64 << 10;

fn transport(what: &str, e: impl std::fmt::Display) -> S3Failure {
    S3Failure::Transport(format!("{what}: {e}"))
}

/// Sends a GET of `url` (signed in its query) with `headers`; the answer's body is read from
/// the connection as the caller reads.
pub fn get(url: &Url, headers: &[(&str, &str)]) -> Result<GetAnswer, S3Failure> {
    let host = url
        .host_str()
        .ok_or_else(|| S3Failure::Transport("no host in the URL".into()))?;
    // The Host header the signature covers: the port only when the URL names one.
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n",
        &url[Position::BeforePath..Position::AfterQuery]
    );
    for (name, value) in headers {
        if value.contains(['\r', '\n']) {
            return Err(S3Failure::Transport(format!(
                "a line break in header {name}"
            )));
        }
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");

    let mut stream = connect(url)?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| transport("sending the request", e))?;
    let (head, rest) = read_head(&mut stream)?;
    let head = Head::parse(&head)?;
    if !(200..300).contains(&head.status) {
        let mut text = Vec::new();
        let limit = head
            .content_length
            .unwrap_or(MAX_ERROR_BODY)
            .min(MAX_ERROR_BODY);
        let _ = io::Cursor::new(rest)
            .chain(stream)
            .take(limit)
            .read_to_end(&mut text);
        return Err(S3Failure::Status {
            code: head.status,
            s3_code: xml::first(&String::from_utf8_lossy(&text), "Code").unwrap_or_default(),
        });
    }
    // S3 answers a GET with a Content-Length; [`super::client::Client::get`] refuses other
    // answers too.
    if head.chunked {
        return Err(S3Failure::Transport(
            "a GET answered with a chunked body".into(),
        ));
    }
    let len = head
        .content_length
        .ok_or_else(|| S3Failure::Transport("a GET answered without Content-Length".into()))?;
    let content_range = ContentRange::of_answer(head.content_range.as_deref())?;
    Ok(GetAnswer {
        body: Box::new(Body {
            stream,
            rest,
            pos: 0,
            remaining: len,
        }),
        len,
        content_range,
        etag: head.etag,
    })
}

fn connect(url: &Url) -> Result<TcpStream, S3Failure> {
    let addrs = url
        .socket_addrs(|| None)
        .map_err(|e| transport("resolving the endpoint", e))?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => {
                stream
                    .set_read_timeout(Some(IO_TIMEOUT))
                    .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
                    .map_err(|e| transport("setting up the connection", e))?;
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => transport("connecting", e),
        None => S3Failure::Transport("the endpoint resolves to no address".into()),
    })
}

/// Reads up to the blank line after the headers; returns the head and what came after it.
fn read_head(stream: &mut impl Read) -> Result<(Vec<u8>, Vec<u8>), S3Failure> {
    let mut buf = vec![0u8; 16 << 10];
    let mut have = 0;
    loop {
        if have == buf.len() {
            if buf.len() >= MAX_HEAD {
                return Err(S3Failure::Transport(
                    "the answer's headers are too long".into(),
                ));
            }
            buf.resize(buf.len() * 2, 0);
        }
        let n = match stream.read(&mut buf[have..]) {
            Ok(0) => {
                return Err(S3Failure::Transport(
                    "the connection closed before the answer".into(),
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(transport("reading the answer", e)),
        };
        // The blank line may straddle the previous read.
        let from = have.saturating_sub(3);
        have += n;
        if let Some(at) = buf[from..have].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from + at + 4;
            let rest = buf[end..have].to_vec();
            buf.truncate(end);
            return Ok((buf, rest));
        }
    }
}

/// The parts of an answer's head this client uses.
#[derive(Debug, Default)]
struct Head {
    status: u16,
    content_length: Option<u64>,
    content_range: Option<String>,
    etag: Option<String>,
    chunked: bool,
}

impl Head {
    fn parse(head: &[u8]) -> Result<Head, S3Failure> {
        let bad = |what: &str| S3Failure::Transport(format!("unreadable answer: {what}"));
        let text = std::str::from_utf8(head).map_err(|_| bad("headers are not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.")
            .and_then(|rest| rest.get(2..5))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| bad("status line"))?;
        let mut parsed = Head {
            status,
            ..Head::default()
        };
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').ok_or_else(|| bad("header line"))?;
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    let len = value.parse().map_err(|_| bad("Content-Length"))?;
                    if parsed.content_length.is_some_and(|l| l != len) {
                        return Err(bad("two Content-Length headers"));
                    }
                    parsed.content_length = Some(len);
                }
                "content-range" => {
                    // Only a successful answer's is read (a 416 has `bytes */len`).
                    parsed.content_range = Some(value.to_owned());
                }
                "etag" => parsed.etag = Some(value.to_owned()),
                "transfer-encoding" => {
                    parsed.chunked = !value.eq_ignore_ascii_case("identity");
                }
                _ => {}
            }
        }
        Ok(parsed)
    }
}

/// The body of an answer: the bytes read along with the head, then the socket, to exactly
/// Content-Length bytes.
struct Body {
    stream: TcpStream,
    rest: Vec<u8>,
    pos: usize,
    remaining: u64,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = if self.pos < self.rest.len() {
            let n = max.min(self.rest.len() - self.pos);
            buf[..n].copy_from_slice(&self.rest[self.pos..self.pos + n]);
            self.pos += n;
            n
        } else {
            match self.stream.read(&mut buf[..max])? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the object store closed the connection {} bytes early",
                            self.remaining
                        ),
                    ))
                }
                n => n,
            }
        };
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// Serves one connection: records the request, then writes `answer` in `pieces` writes.
    fn serve_once(answer: Vec<u8>, pieces: usize) -> (Url, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let Ok((head, _)) = read_head(&mut conn) else {
                return;
            };
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let step = answer.len().div_ceil(pieces.max(1)).max(1);
            for chunk in answer.chunks(step) {
                if conn.write_all(chunk).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let url = Url::parse(&format!(
            "http://127.0.0.1:{port}/bucket/a%20b?X-Amz-Signature=s"
        ))
        .expect("url");
        (url, rx)
    }

    fn answer(head: &str, body: &[u8]) -> Vec<u8> {
        let mut bytes = head.replace('\n', "\r\n").into_bytes();
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn reads_a_partial_answer_and_sends_what_was_signed() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for pieces in [1, 3, 50] {
            let head = format!(
                "HTTP/1.1 206 Partial Content\nContent-Length: {}\nContent-Range: bytes 10-{}/500000\nETag: \"abc\"\n",
                body.len(),
                body.len() + 9
            );
            let (url, request) = serve_once(answer(&head, &body), pieces);
            let mut got = get(
                &url,
                &[("Range", "bytes=10-100009"), ("If-Match", "\"abc\"")],
            )
            .unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(got.len, body.len() as u64);
            assert_eq!(got.etag.as_deref(), Some("\"abc\""));
            assert_eq!(got.content_range.and_then(|c| c.total), Some(500_000));
            let mut read = Vec::new();
            got.body.read_to_end(&mut read).expect("body");
            assert!(read == body, "in {pieces} writes");
            let request = request.recv().expect("request");
            let port = url.port().unwrap_or_default();
            assert!(
                request.starts_with(&format!(
                    "GET /bucket/a%20b?X-Amz-Signature=s HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                )),
                "{request}"
            );
            assert!(request.contains("\r\nRange: bytes=10-100009\r\n"));
            assert!(request.contains("\r\nIf-Match: \"abc\"\r\n"));
        }
    }

    #[test]
    fn an_error_answer_carries_its_s3_code() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>PreconditionFailed</Code></Error>";
        let head = format!(
            "HTTP/1.1 412 Precondition Failed\ncontent-length: {}\n",
            xml.len()
        );
        let (url, _) = serve_once(answer(&head, xml.as_bytes()), 2);
        match get(&url, &[]) {
            Err(S3Failure::Status { code, s3_code }) => {
                assert_eq!((code, s3_code.as_str()), (412, "PreconditionFailed"))
            }
            other => panic!("{:?}", other.map(|a| a.len)),
        }
    }

    #[test]
    fn a_range_past_the_end_is_a_416() {
        let head = "HTTP/1.1 416 Requested Range Not Satisfiable\nContent-Range: bytes */0\nContent-Length: 0\n";
        let (url, _) = serve_once(answer(head, b""), 1);
        assert!(matches!(
            get(&url, &[("Range", "bytes=0-9")]),
            Err(S3Failure::Status { code: 416, .. })
        ));
    }

    #[test]
    fn a_body_cut_short_is_an_error() {
        let (url, _) = serve_once(
            answer("HTTP/1.1 200 OK\nContent-Length: 1000\n", &[7; 600]),
            2,
        );
        let mut got = get(&url, &[]).unwrap_or_else(|e| panic!("{e:?}"));
        let mut read = Vec::new();
        let err = got.body.read_to_end(&mut read).expect_err("short body");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn answers_it_cannot_read_are_refused() {
        for head in [
            "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n",
            "HTTP/1.1 200 OK\n",
            "HTTP/1.1 200 OK\nContent-Length: 5\nContent-Length: 6\n",
            "HTTP/1.1 206 Partial Content\nContent-Length: 5\nContent-Range: bytes 9-5/10\n",
            "SPDY 200 OK\nContent-Length: 5\n",
            "HTTP/1.1 200 OK\nno colon\n",
        ] {
            let (url, _) = serve_once(answer(head, b"hello"), 1);
            assert!(get(&url, &[]).is_err(), "{head:?}");
        }
        // Bodies framed otherwise than by Content-Length are refused as ureq's GET refuses
        // them, with a message that says so.
        for (head, says) in [
            ("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n", "chunked"),
            ("HTTP/1.1 200 OK\n", "without Content-Length"),
        ] {
            let (url, _) = serve_once(answer(head, b"hello"), 1);
            match get(&url, &[]) {
                Err(S3Failure::Transport(e)) => assert!(e.contains(says), "{e}"),
                other => panic!("{head:?}: {:?}", other.map(|a| a.len)),
            }
        }
        let endless = format!("HTTP/1.1 200 OK\nX-Pad: {}\n", "x".repeat(MAX_HEAD));
        let (url, _) = serve_once(answer(&endless, b""), 4);
        assert!(get(&url, &[]).is_err());
        let (url, _) = serve_once(Vec::new(), 1);
        assert!(get(&url, &[]).is_err(), "no answer at all");
        assert!(get(&url, &[("Range", "bytes=0-1\r\nX: y")]).is_err());
    }
}

//! Serving stored content: conditional requests, byte ranges and streaming from the blob
//! store, shared by every package format.

use std::fs::File;
use std::future::Future;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::body::SizedStream;
use actix_web::http::header::{
    self, HeaderMap, HeaderName, HeaderValue, HttpDate, TryIntoHeaderValue,
};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use futures_util::Stream;
use packages_core::digest_header::{repr_digest_value, wanted_repr_digests};
use packages_core::BlobReader;
use percent_encoding::{utf8_percent_encode, AsciiSet};

use crate::error::{ApiError, ApiResult};
use crate::idle::{self, ConnectionSocket, Progress};

/// Bytes read from disk per chunk; large enough to keep system calls few, small enough that
/// one chunk read ahead per download stays small.
const CHUNK: usize = 256 * 1024;

/// Characters kept as they are in `filename*=` (those of a URL path segment).
const FILENAME_STAR: &AsciiSet = crate::urls::PATH_SEGMENT;

/// What is being served.
#[derive(Debug, Clone)]
pub struct Content<'a> {
    /// File name offered to the client (the stored casing).
    pub file_name: &'a str,
    pub size: u64,
    /// SHA-256 of the content; the strong entity tag is derived from it.
    pub sha256: &'a str,
    /// SHA-512 of the content, for `Repr-Digest`.
    pub sha512: &'a str,
    /// When the file was stored, in Unix seconds.
    pub modified_unix: i64,
}

impl Content<'_> {
    /// The strong entity tag, quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.sha256)
    }

    fn modified(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.modified_unix.max(0) as u64)
    }
}

/// How to answer a download request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    Full,
    /// Bytes `start..=end`.
    Partial {
        start: u64,
        end: u64,
    },
    NotModified,
    PreconditionFailed,
    Unsatisfiable,
}

/// Decides the answer from the request's conditional and range headers (RFC 9110 §13.2.2).
pub fn plan(headers: &HeaderMap, content: &Content<'_>) -> Plan {
    // Built only when a conditional header asks: most downloads carry none.
    let etag = || content.etag();
    let modified = content.modified();
    if let Some(v) = header_str(headers, header::IF_MATCH) {
        if !etag_list_matches(v, &etag(), Comparison::Strong) {
            return Plan::PreconditionFailed;
        }
    } else if let Some(date) = header_date(headers, header::IF_UNMODIFIED_SINCE) {
        if modified > date {
            return Plan::PreconditionFailed;
        }
    }
    if let Some(v) = header_str(headers, header::IF_NONE_MATCH) {
        if etag_list_matches(v, &etag(), Comparison::Weak) {
            return Plan::NotModified;
        }
    } else if let Some(date) = header_date(headers, header::IF_MODIFIED_SINCE) {
        if modified <= date {
            return Plan::NotModified;
        }
    }
    let Some(range) = header_str(headers, header::RANGE) else {
        return Plan::Full;
    };
    if let Some(if_range) = header_str(headers, header::IF_RANGE) {
        let still_current = if if_range.trim_start().starts_with('"') {
            if_range.trim() == etag()
        } else {
            HttpDate::from_str(if_range).is_ok_and(|d| SystemTime::from(d) == modified)
        };
        if !still_current {
            return Plan::Full;
        }
    }
    parse_range(range, content.size)
}

/// Parses a single `bytes=` range. Anything this server does not serve as a range (several
/// ranges, other units, bad syntax) is answered with the whole content, as RFC 9110 allows.
fn parse_range(value: &str, size: u64) -> Plan {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Plan::Full;
    };
    if spec.contains(',') {
        return Plan::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Plan::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // Suffix range: the last N bytes.
        let Ok(n) = last.parse::<u64>() else {
            return Plan::Full;
        };
        if n == 0 || size == 0 {
            return Plan::Unsatisfiable;
        }
        let n = n.min(size);
        return Plan::Partial {
            start: size - n,
            end: size - 1,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return Plan::Full;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match last.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return Plan::Full,
        }
    };
    if start >= size {
        return Plan::Unsatisfiable;
    }
    Plan::Partial {
        start,
        end: end.min(size - 1),
    }
}

/// Whether a request's validators say the client's copy of a generated document is current:
/// `If-None-Match` naming `etag` (or `*`), or, when that header is absent and `modified` (Unix
/// seconds) is given, `If-Modified-Since` at or after it.
pub fn still_fresh(headers: &HeaderMap, etag: &str, modified: Option<i64>) -> bool {
    if let Some(v) = header_str(headers, header::IF_NONE_MATCH) {
        return etag_list_matches(v, etag, Comparison::Weak);
    }
    let (Some(modified), Some(since)) = (modified, header_date(headers, header::IF_MODIFIED_SINCE))
    else {
        return false;
    };
    since
        .duration_since(std::time::UNIX_EPOCH)
        .is_ok_and(|since| modified <= since.as_secs() as i64)
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn header_date(headers: &HeaderMap, name: header::HeaderName) -> Option<SystemTime> {
    header_str(headers, name)
        .and_then(|v| HttpDate::from_str(v).ok())
        .map(SystemTime::from)
}

/// How entity tags are compared (RFC 9110 §8.8.3.2): `If-Match` needs the strong
/// comparison, where a weak tag matches nothing; `If-None-Match` uses the weak one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

fn etag_list_matches(list: &str, etag: &str, comparison: Comparison) -> bool {
    let bare = etag.trim_matches('"');
    list.split(',').map(str::trim).any(|candidate| {
        if candidate == "*" {
            return true;
        }
        let (weak, tag) = match candidate.strip_prefix("W/") {
            Some(tag) => (true, tag),
            None => (false, candidate),
        };
        !(weak && comparison == Comparison::Strong) && tag.trim_matches('"') == bare
    })
}

/// `Content-Disposition: attachment` with both the quoted and the RFC 8187 form of the name.
pub fn content_disposition(file_name: &str) -> String {
    let quoted = file_name.replace('\\', "\\\\").replace('"', "\\\"");
    let encoded = utf8_percent_encode(file_name, FILENAME_STAR);
    format!("attachment; filename=\"{quoted}\"; filename*=UTF-8''{encoded}")
}

/// The values of one file's download headers, ready to be copied into a response (a copy
/// of a [`HeaderValue`] shares its bytes).
#[derive(Debug, Clone)]
pub struct FileHeaders {
    pub etag: HeaderValue,
    pub last_modified: HeaderValue,
    /// `X-Checksum-Sha256`.
    pub checksum: HeaderValue,
    /// `Repr-Digest` with both digests: the answer to a request without `Want-Repr-Digest`.
    pub repr_digest: HeaderValue,
    pub disposition: HeaderValue,
}

impl FileHeaders {
    /// Builds the values for `content`. Fails only for a stored name a header cannot carry,
    /// which the upload's validation of names rules out.
    pub fn build(content: &Content<'_>) -> ApiResult<FileHeaders> {
        let value = |text: String| {
            HeaderValue::from_str(&text)
                .map_err(|_| ApiError::internal("a stored file's header value is not valid"))
        };
        let last_modified = HttpDate::from(content.modified())
            .try_into_value()
            .map_err(|_| ApiError::internal("a stored file's date is not a header value"))?;
        Ok(FileHeaders {
            etag: value(content.etag())?,
            last_modified,
            checksum: value(content.sha256.to_owned())?,
            repr_digest: value(repr_digest_value(
                &wanted_repr_digests(None),
                content.sha256,
                content.sha512,
            ))?,
            disposition: value(content_disposition(content.file_name))?,
        })
    }
}

/// RFC 9530's digest of the whole representation; on a 206 it still describes all of it.
const REPR_DIGEST: HeaderName = HeaderName::from_static("repr-digest");
const WANT_REPR_DIGEST: HeaderName = HeaderName::from_static("want-repr-digest");
const X_CHECKSUM_SHA256: HeaderName = HeaderName::from_static("x-checksum-sha256");
// The values every download carries, made once rather than checked on every response.
const BYTES: HeaderValue = HeaderValue::from_static("bytes");
const PRIVATE_5_MIN: HeaderValue = HeaderValue::from_static("private, max-age=300");
const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const EXPOSE_DISPOSITION: HeaderValue = HeaderValue::from_static("Content-Disposition");

/// The `Repr-Digest` value: the prepared one with both digests, unless `Want-Repr-Digest`
/// prefers others.
fn repr_digest(request: &HeaderMap, content: &Content<'_>, prepared: &FileHeaders) -> HeaderValue {
    let Some(want) = header_str(request, WANT_REPR_DIGEST) else {
        return prepared.repr_digest.clone();
    };
    let value = repr_digest_value(
        &wanted_repr_digests(Some(want)),
        content.sha256,
        content.sha512,
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| prepared.repr_digest.clone())
}

/// Files up to this size are read whole on the blocking thread that looked them up, so a
/// small download needs no second trip to the blocking pool.
pub const SMALL_FILE: u64 = 64 * 1024;

/// Where the bytes of a response come from.
pub enum Source {
    /// Streamed from the file, which holds the whole content.
    File(File),
    /// The whole content, already read.
    Memory(Bytes),
    /// A stream of exactly the bytes the plan sends (an object store's ranged read).
    Stream(Box<dyn Read + Send>),
    /// Nothing: the answer has no body (HEAD, 304, 412, 416).
    Empty,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File(file) => f.debug_tuple("File").field(file).finish(),
            Source::Memory(bytes) => f.debug_tuple("Memory").field(&bytes.len()).finish(),
            Source::Stream(_) => f.write_str("Stream"),
            Source::Empty => f.write_str("Empty"),
        }
    }
}

impl Source {
    /// Takes content opened from the blob store for serving; small content of `size` bytes
    /// is read at once (the reader must then hold all of it). Blocking.
    pub fn load(reader: BlobReader, size: u64) -> std::io::Result<Source> {
        let (mut reader, whole): (Box<dyn Read>, bool) = match reader {
            BlobReader::File(file, _) if size > SMALL_FILE => return Ok(Source::File(file)),
            BlobReader::Stream(stream, _) if size > SMALL_FILE => {
                return Ok(Source::Stream(stream))
            }
            BlobReader::File(file, _) => (Box::new(file), true),
            BlobReader::Stream(stream, len) => (stream, len == size),
        };
        if !whole {
            return Err(std::io::Error::other(
                "a small blob was opened for a part only",
            ));
        }
        let mut buf = Vec::with_capacity(size as usize);
        reader.read_to_end(&mut buf)?;
        if buf.len() as u64 != size {
            return Err(std::io::Error::other(format!(
                "stored content is {} bytes, expected {size}",
                buf.len()
            )));
        }
        Ok(Source::Memory(Bytes::from(buf)))
    }
}

/// The byte range of the content a plan sends, if it sends a body.
pub fn body_range(plan: Plan, size: u64) -> Option<std::ops::Range<u64>> {
    match plan {
        Plan::Full => Some(0..size),
        Plan::Partial { start, end } => Some(start..end + 1),
        Plan::NotModified | Plan::PreconditionFailed | Plan::Unsatisfiable => None,
    }
}

/// A redirect to a presigned URL of the object store; the URL is short-lived, so neither the
/// answer nor the URL may be cached.
pub fn redirect(url: &str) -> HttpResponse {
    HttpResponse::TemporaryRedirect()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Builds the response for `plan` to a request with `request` headers. The source is read
/// only when a body is sent; `head` answers with the headers alone.
pub fn respond(
    request: &HeaderMap,
    plan: Plan,
    content: &Content<'_>,
    prepared: &FileHeaders,
    source: Source,
    head: bool,
    transfer: &Transfer,
) -> HttpResponse {
    let status = match plan {
        Plan::Full => StatusCode::OK,
        Plan::Partial { .. } => StatusCode::PARTIAL_CONTENT,
        Plan::NotModified => StatusCode::NOT_MODIFIED,
        Plan::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        Plan::Unsatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
    };
    let mut builder = HttpResponse::build(status);
    builder
        .insert_header((header::ETAG, prepared.etag.clone()))
        .insert_header((header::LAST_MODIFIED, prepared.last_modified.clone()))
        .insert_header((header::ACCEPT_RANGES, BYTES))
        .insert_header((X_CHECKSUM_SHA256, prepared.checksum.clone()))
        .insert_header((REPR_DIGEST, repr_digest(request, content, prepared)))
        .insert_header((header::CACHE_CONTROL, PRIVATE_5_MIN));
    let (start, len) = match plan {
        Plan::Full => (0, content.size),
        Plan::Partial { start, end } => {
            builder.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{}", content.size),
            ));
            (start, end - start + 1)
        }
        Plan::NotModified | Plan::PreconditionFailed => return builder.finish(),
        Plan::Unsatisfiable => {
            builder.insert_header((header::CONTENT_RANGE, format!("bytes */{}", content.size)));
            return builder.finish();
        }
    };
    builder
        .insert_header((header::CONTENT_TYPE, OCTET_STREAM))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, NOSNIFF))
        .insert_header((header::CONTENT_DISPOSITION, prepared.disposition.clone()))
        .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_DISPOSITION));
    if head || len == 0 {
        return builder.body(SizedStream::new(
            len,
            futures_util::stream::empty::<Result<Bytes, std::io::Error>>(),
        ));
    }
    match source {
        Source::Memory(bytes) => builder.body(bytes.slice(start as usize..(start + len) as usize)),
        Source::File(file) => builder.body(SizedStream::new(
            len,
            FileStream::start(file, start, len).watched(transfer),
        )),
        Source::Stream(stream) => builder.body(SizedStream::new(
            len,
            FileStream::from_reader(stream, len).watched(transfer),
        )),
        Source::Empty => HttpResponse::InternalServerError().finish(),
    }
}

/// Where a streamed response goes: the connection's socket (so a stalled download can be
/// cut, see [`crate::idle`]) and how long it may stall.
#[derive(Debug, Clone, Default)]
pub struct Transfer {
    pub socket: Option<Arc<ConnectionSocket>>,
    pub idle: Duration,
}

impl Transfer {
    /// The transfer of a response to `req`.
    pub fn of(req: &actix_web::HttpRequest, idle: Duration) -> Transfer {
        Transfer {
            socket: idle::socket_of(req),
            idle,
        }
    }
}

/// A pending read of one chunk on the blocking pool.
type ChunkRead = tokio::task::JoinHandle<std::io::Result<Bytes>>;

/// What a [`FileStream`] reads: a local file (read at offsets) or a stream of the wanted
/// range from an object store (read in order; only one read is ever pending).
enum Input {
    File(Arc<File>),
    Reader(Arc<std::sync::Mutex<Box<dyn Read + Send>>>),
}

/// Streams content one chunk ahead of the socket. Each chunk is read by a short task on the
/// blocking pool, started when the previous one is handed out, so a slow client holds no
/// thread while it reads: the blocking pool, which database calls share, stays free however
/// many downloads are stalled. When the client goes away the stream is dropped and no
/// further read starts.
pub struct FileStream {
    input: Input,
    next_offset: u64,
    remaining: u64,
    pending: Option<ChunkRead>,
    progress: Option<Arc<Progress>>,
}

impl FileStream {
    /// Starts reading `len` bytes of `file` from `start`.
    pub fn start(file: File, start: u64, len: u64) -> Self {
        Self::new(Input::File(Arc::new(file)), start, len)
    }

    /// Starts reading the first `len` bytes `reader` yields.
    pub fn from_reader(reader: Box<dyn Read + Send>, len: u64) -> Self {
        Self::new(
            Input::Reader(Arc::new(std::sync::Mutex::new(reader))),
            0,
            len,
        )
    }

    fn new(input: Input, start: u64, len: u64) -> Self {
        let mut stream = FileStream {
            input,
            next_offset: start,
            remaining: len,
            pending: None,
            progress: None,
        };
        stream.read_next();
        stream
    }

    /// Cuts the transfer's connection once the stream has not been asked for data for the
    /// idle timeout.
    pub fn watched(mut self, transfer: &Transfer) -> Self {
        if let Some(socket) = &transfer.socket {
            let progress = Progress::new();
            idle::watch(socket, &progress, transfer.idle);
            self.progress = Some(progress);
        }
        self
    }

    fn read_next(&mut self) {
        if self.remaining == 0 {
            return;
        }
        let want = self.remaining.min(CHUNK as u64);
        let offset = self.next_offset;
        self.next_offset += want;
        self.remaining -= want;
        let mut buf = vec![0u8; want as usize];
        let read: Box<dyn FnOnce() -> std::io::Result<Bytes> + Send> = match &self.input {
            Input::File(file) => {
                let file = file.clone();
                Box::new(move || {
                    file.read_exact_at(&mut buf, offset)?;
                    Ok(Bytes::from(buf))
                })
            }
            Input::Reader(reader) => {
                let reader = reader.clone();
                Box::new(move || {
                    reader
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .read_exact(&mut buf)?;
                    Ok(Bytes::from(buf))
                })
            }
        };
        self.pending = Some(tokio::task::spawn_blocking(crate::request::carry(read)));
    }
}

impl Stream for FileStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(progress) = &self.progress {
            progress.touch();
        }
        let Some(pending) = self.pending.as_mut() else {
            return Poll::Ready(None);
        };
        let result = match Pin::new(pending).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        self.pending = None;
        match result {
            Ok(Ok(bytes)) => {
                self.read_next();
                Poll::Ready(Some(Ok(bytes)))
            }
            Ok(Err(e)) => {
                self.remaining = 0;
                Poll::Ready(Some(Err(e)))
            }
            Err(e) => {
                self.remaining = 0;
                Poll::Ready(Some(Err(std::io::Error::other(e))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn content() -> Content<'static> {
        Content {
            file_name: "a b(1).bin",
            size: 3,
            sha256: "abc",
            sha512: "def",
            modified_unix: 1_700_000_000,
        }
    }

    fn plan_with(pairs: &[(HeaderName, &str)]) -> Plan {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        plan(&h, &content())
    }

    #[test]
    fn ranges() {
        assert_eq!(plan_with(&[]), Plan::Full);
        assert_eq!(
            plan_with(&[(header::RANGE, "bytes=1-1")]),
            Plan::Partial { start: 1, end: 1 }
        );
        assert_eq!(
            plan_with(&[(header::RANGE, "bytes=1-")]),
            Plan::Partial { start: 1, end: 2 }
        );
        assert_eq!(
            plan_with(&[(header::RANGE, "bytes=-2")]),
            Plan::Partial { start: 1, end: 2 }
        );
        assert_eq!(
            plan_with(&[(header::RANGE, "bytes=-9")]),
            Plan::Partial { start: 0, end: 2 }
        );
        assert_eq!(
            plan_with(&[(header::RANGE, "bytes=0-99")]),
            Plan::Partial { start: 0, end: 2 }
        );
        assert_eq!(
            plan_with(&[(header::RANGE, "bytes=5-")]),
            Plan::Unsatisfiable
        );
        assert_eq!(
            plan_with(&[(header::RANGE, "bytes=-0")]),
            Plan::Unsatisfiable
        );
        assert_eq!(plan_with(&[(header::RANGE, "bytes=0-0,2-2")]), Plan::Full);
        assert_eq!(plan_with(&[(header::RANGE, "items=0-1")]), Plan::Full);
        assert_eq!(plan_with(&[(header::RANGE, "bytes=2-1")]), Plan::Full);
    }

    #[test]
    fn conditionals() {
        let date = HttpDate::from(content().modified()).to_string();
        assert_eq!(
            plan_with(&[(header::IF_NONE_MATCH, "\"abc\"")]),
            Plan::NotModified
        );
        assert_eq!(
            plan_with(&[(header::IF_NONE_MATCH, "W/\"abc\", \"x\"")]),
            Plan::NotModified
        );
        assert_eq!(plan_with(&[(header::IF_NONE_MATCH, "\"x\"")]), Plan::Full);
        assert_eq!(
            plan_with(&[(header::IF_MODIFIED_SINCE, date.as_str())]),
            Plan::NotModified
        );
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            plan_with(&[
                (header::IF_NONE_MATCH, "\"x\""),
                (header::IF_MODIFIED_SINCE, date.as_str())
            ]),
            Plan::Full
        );
        assert_eq!(
            plan_with(&[(header::IF_MATCH, "\"x\"")]),
            Plan::PreconditionFailed
        );
        assert_eq!(plan_with(&[(header::IF_MATCH, "*")]), Plan::Full);
        assert_eq!(plan_with(&[(header::IF_MATCH, "\"abc\"")]), Plan::Full);
        // If-Match compares strongly: a weak tag never matches.
        assert_eq!(
            plan_with(&[(header::IF_MATCH, "W/\"abc\"")]),
            Plan::PreconditionFailed
        );
        assert_eq!(
            plan_with(&[(header::IF_UNMODIFIED_SINCE, "Thu, 01 Jan 1970 00:00:00 GMT")]),
            Plan::PreconditionFailed
        );
        assert_eq!(
            plan_with(&[(header::RANGE, "bytes=1-1"), (header::IF_RANGE, "\"old\"")]),
            Plan::Full
        );
        assert_eq!(
            plan_with(&[(header::RANGE, "bytes=1-1"), (header::IF_RANGE, "\"abc\"")]),
            Plan::Partial { start: 1, end: 1 }
        );
    }

    #[test]
    fn disposition() {
        assert_eq!(
            content_disposition("a b(1).bin"),
            "attachment; filename=\"a b(1).bin\"; filename*=UTF-8''a%20b%281%29.bin"
        );
        assert_eq!(
            content_disposition("x;[y]!~$&+:=@"),
            "attachment; filename=\"x;[y]!~$&+:=@\"; filename*=UTF-8''x%3B%5By%5D%21~$&+:=@"
        );
    }
}

//! The request headers of the tus protocol, read and checked.

use actix_web::http::header::{self, HeaderMap};
use base64::Engine;
use md5::Digest as _;
use sha2::Digest as _;

use packages_api::error::{ApiError, ApiResult};

/// The only protocol version spoken.
pub const TUS_VERSION: &str = "1.0.0";
/// The extensions implemented.
pub const EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
/// The algorithms `Upload-Checksum` may name.
pub const CHECKSUM_ALGORITHMS: &str = "md5,sha1,sha256";
/// The media type of the bytes a `PATCH` appends.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
/// Longest `Upload-Metadata` kept.
const MAX_METADATA: usize = 4096;

fn text<'a>(headers: &'a HeaderMap, name: &str) -> ApiResult<Option<&'a str>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map(str::trim)
                .map_err(|_| ApiError::BadRequest(format!("{name} is not text")))
        })
        .transpose()
}

/// Refuses requests that do not speak 1.0.0 (412 with `Tus-Version`).
pub fn check_version(headers: &HeaderMap) -> ApiResult<()> {
    match text(headers, "tus-resumable")? {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(ApiError::TusVersion),
    }
}

fn number(headers: &HeaderMap, name: &'static str) -> ApiResult<Option<u64>> {
    text(headers, name)?
        .map(|v| {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n <= i64::MAX as u64)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("{name} must be a non-negative integer"))
                })
        })
        .transpose()
}

/// `Upload-Length` of a creation; deferring it is not supported.
pub fn upload_length(headers: &HeaderMap) -> ApiResult<u64> {
    if headers.contains_key("upload-defer-length") {
        return Err(ApiError::BadRequest(
            "Upload-Defer-Length is not supported; send Upload-Length".to_owned(),
        ));
    }
    number(headers, "upload-length")?
        .ok_or_else(|| ApiError::BadRequest("Upload-Length is required".to_owned()))
}

/// `Upload-Offset` of an append.
pub fn upload_offset(headers: &HeaderMap) -> ApiResult<u64> {
    number(headers, "upload-offset")?
        .ok_or_else(|| ApiError::BadRequest("Upload-Offset is required".to_owned()))
}

/// `Upload-Metadata` as sent, once checked: comma-separated `key base64value` pairs (the value
/// may be left out), keys unique.
pub fn upload_metadata(headers: &HeaderMap) -> ApiResult<String> {
    let Some(raw) = text(headers, "upload-metadata")? else {
        return Ok(String::new());
    };
    let bad = |why: &str| ApiError::BadRequest(format!("Upload-Metadata: {why}"));
    if raw.len() > MAX_METADATA {
        return Err(bad("longer than 4096 bytes"));
    }
    let mut keys = Vec::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or_default();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("a key is empty or not printable ASCII"));
        }
        if let Some(value) = parts.next() {
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|_| bad("a value is not base64"))?;
        }
        if parts.next().is_some() {
            return Err(bad("a pair has more than a key and a value"));
        }
        if keys.contains(&key) {
            return Err(bad("a key appears twice"));
        }
        keys.push(key);
    }
    Ok(raw.to_owned())
}

/// True when the body is the bytes of the upload.
pub fn is_offset_octet_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
}

/// Whether a creation carries bytes of the upload (creation-with-upload): a body of another
/// type is refused rather than ignored.
pub fn has_body(headers: &HeaderMap) -> ApiResult<bool> {
    let typed = is_offset_octet_stream(headers);
    let announced = packages_api::upload::content_length(headers)?;
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let body = chunked || announced.is_some_and(|n| n > 0);
    if body && !typed {
        return Err(ApiError::UnsupportedMediaType(
            "a creation's body takes Content-Type: application/offset+octet-stream",
        ));
    }
    Ok(typed && (body || announced.is_none()))
}

/// A checksum a chunk must have (`Upload-Checksum: <algorithm> <base64>`).
#[derive(Debug, Clone)]
pub struct Checksum {
    algorithm: Algorithm,
    expected: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Algorithm {
    Md5,
    Sha1,
    Sha256,
}

/// Hashes a chunk as it arrives.
pub enum ChunkHasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl Checksum {
    /// The request's `Upload-Checksum`, if any; an unknown algorithm or a malformed value is
    /// a 400.
    pub fn of(headers: &HeaderMap) -> ApiResult<Option<Checksum>> {
        let Some(raw) = text(headers, "upload-checksum")? else {
            return Ok(None);
        };
        let (name, value) = raw.split_once(' ').ok_or_else(|| {
            ApiError::BadRequest("Upload-Checksum must be '<algorithm> <base64>'".to_owned())
        })?;
        let algorithm = match name {
            "md5" => Algorithm::Md5,
            "sha1" => Algorithm::Sha1,
            "sha256" => Algorithm::Sha256,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "unsupported checksum algorithm; use one of {CHECKSUM_ALGORITHMS}"
                )))
            }
        };
        let expected = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| ApiError::BadRequest("Upload-Checksum value is not base64".to_owned()))?;
        Ok(Some(Checksum {
            algorithm,
            expected,
        }))
    }

    pub fn hasher(&self) -> ChunkHasher {
        match self.algorithm {
            Algorithm::Md5 => ChunkHasher::Md5(md5::Md5::new()),
            Algorithm::Sha1 => ChunkHasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => ChunkHasher::Sha256(sha2::Sha256::new()),
        }
    }

    /// True when the hashed chunk has the expected checksum.
    pub fn matches(&self, hasher: ChunkHasher) -> bool {
        let got = match hasher {
            ChunkHasher::Md5(h) => h.finalize().to_vec(),
            ChunkHasher::Sha1(h) => h.finalize().to_vec(),
            ChunkHasher::Sha256(h) => h.finalize().to_vec(),
        };
        // The client's own checksum of its own bytes: nothing secret to time.
        got == self.expected
    }
}

impl ChunkHasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            ChunkHasher::Md5(h) => h.update(data),
            ChunkHasher::Sha1(h) => h.update(data),
            ChunkHasher::Sha256(h) => h.update(data),
        }
    }
}

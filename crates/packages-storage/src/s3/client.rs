//! The S3 requests the store needs: each one signed by `rusty-s3` (a presigned URL, so no
//! payload hashing) and sent with a blocking `ureq` agent that keeps connections alive.
//!
//! Error messages name the operation and the object, never the signed URL (it carries the
//! access key ID and a signature).

use std::io::Read;
use std::time::{Duration, SystemTime};

use packages_core::StorageError;
use rusty_s3::actions::{
    AbortMultipartUpload, CompleteMultipartUpload, CreateMultipartUpload, DeleteObject, GetObject,
    HeadObject, ListObjectsV2, PutObject, UploadPart,
};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use url::Url;

use super::plain_get;
use super::xml;
use super::S3Settings;

/// How long the URL of a request the server sends itself stays valid; only its start has to
/// fall within it.
const REQUEST_TTL: Duration = Duration::from_secs(300);

/// Why a request failed, before it becomes a [`StorageError`].
#[derive(Debug)]
pub enum S3Failure {
    /// No connection, a timeout, or a broken transfer.
    Transport(String),
    /// The server answered with an error status.
    Status { code: u16, s3_code: String },
}

impl S3Failure {
    pub fn into_storage(self, what: &str) -> StorageError {
        match self {
            S3Failure::Status { code: 404, .. } => StorageError::NotFound(what.to_owned()),
            S3Failure::Transport(e) => {
                StorageError::Unavailable(format!("object store unreachable ({what}): {e}"))
            }
            S3Failure::Status { code, s3_code } => StorageError::Unavailable(format!(
                "object store answered {code} {s3_code} ({what})"
            )),
        }
    }
}

/// A multipart upload in a listing of unfinished ones.
#[derive(Debug, Clone)]
pub struct UnfinishedUpload {
    pub object: String,
    pub upload_id: String,
    pub initiated: Option<SystemTime>,
}

/// An object in a listing.
#[derive(Debug, Clone)]
pub struct ListedObject {
    pub object: String,
    pub modified: SystemTime,
}

/// What a GET answered, headers parsed.
pub struct GetAnswer {
    pub body: Box<dyn Read + Send>,
    /// Content-Length: the bytes `body` yields.
    pub len: u64,
    /// Present when the store answered with part of the object (206).
    pub content_range: Option<ContentRange>,
    pub etag: Option<String>,
}

/// `Content-Range: bytes first-last/total` of a partial answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
    /// The whole object's length (`None` for `*`).
    pub total: Option<u64>,
}

impl ContentRange {
    pub fn parse(value: &str) -> Option<ContentRange> {
        let (span, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
        let (first, last) = span.split_once('-')?;
        let range = ContentRange {
            first: first.parse().ok()?,
            last: last.parse().ok()?,
            total: match total {
                "*" => None,
                t => Some(t.parse().ok()?),
            },
        };
        let consistent = range.first <= range.last && range.total.is_none_or(|t| range.last < t);
        consistent.then_some(range)
    }

    /// The Content-Range header of a GET's answer, if it has one; one it cannot parse is
    /// an error.
    pub fn of_answer(header: Option<&str>) -> Result<Option<ContentRange>, S3Failure> {
        header
            .map(|v| {
                ContentRange::parse(v).ok_or_else(|| {
                    S3Failure::Transport(format!("a GET answered with Content-Range {v:?}"))
                })
            })
            .transpose()
    }
}

/// Signs and sends S3 requests for one bucket.
pub struct Client {
    bucket: Bucket,
    credentials: Credentials,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(settings: &S3Settings) -> Result<Self, String> {
        let endpoint = Url::parse(&settings.endpoint).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err("must be an http:// or https:// URL with a host".to_owned());
        }
        let style = if settings.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            endpoint,
            style,
            settings.bucket.clone(),
            settings.region.clone(),
        )
        .map_err(|e| format!("cannot address bucket {:?}: {e}", settings.bucket))?;
        let credentials = Credentials::new(
            settings.access_key_id.clone(),
            settings.secret_access_key.expose().to_owned(),
        );
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout_read(Duration::from_secs(60))
            .timeout_write(Duration::from_secs(60))
            .max_idle_connections_per_host(64)
            .build();
        Ok(Client {
            bucket,
            credentials,
            agent,
        })
    }

    fn send(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<ureq::Response, S3Failure> {
        let mut request = self.agent.request_url(method, url);
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let result = match body {
            Some(bytes) => request.send_bytes(bytes),
            None => request.call(),
        };
        match result {
            Ok(response) => Ok(response),
            Err(ureq::Error::Status(code, response)) => {
                let text = response.into_string().unwrap_or_default();
                Err(S3Failure::Status {
                    code,
                    s3_code: xml::first(&text, "Code").unwrap_or_default(),
                })
            }
            Err(ureq::Error::Transport(t)) => Err(S3Failure::Transport(format!(
                "{}{}",
                t.kind(),
                t.message().map(|m| format!(": {m}")).unwrap_or_default()
            ))),
        }
    }

    /// HEAD of the bucket: reachable, credentials accepted, bucket present.
    pub fn head_bucket(&self) -> Result<(), S3Failure> {
        let url = rusty_s3::actions::HeadBucket::new(&self.bucket, Some(&self.credentials))
            .sign(REQUEST_TTL);
        self.send("HEAD", &url, &[], None).map(drop)
    }

    pub fn put_object(&self, object: &str, data: &[u8]) -> Result<(), S3Failure> {
        let url = PutObject::new(&self.bucket, Some(&self.credentials), object).sign(REQUEST_TTL);
        self.send("PUT", &url, &[], Some(data)).map(drop)
    }

    pub fn create_multipart(&self, object: &str) -> Result<String, S3Failure> {
        let url = CreateMultipartUpload::new(&self.bucket, Some(&self.credentials), object)
            .sign(REQUEST_TTL);
        let text = read_text(self.send("POST", &url, &[], Some(&[]))?)?;
        xml::first(&text, "UploadId").ok_or_else(|| S3Failure::Transport("no UploadId".into()))
    }

    /// Sends one part; returns its ETag.
    pub fn upload_part(
        &self,
        object: &str,
        upload_id: &str,
        number: u16,
        data: &[u8],
    ) -> Result<String, S3Failure> {
        let url = UploadPart::new(
            &self.bucket,
            Some(&self.credentials),
            object,
            number,
            upload_id,
        )
        .sign(REQUEST_TTL);
        let response = self.send("PUT", &url, &[], Some(data))?;
        response
            .header("etag")
            .map(str::to_owned)
            .ok_or_else(|| S3Failure::Transport("a part upload answered without ETag".into()))
    }

    pub fn complete_multipart(
        &self,
        object: &str,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(), S3Failure> {
        let action = CompleteMultipartUpload::new(
            &self.bucket,
            Some(&self.credentials),
            object,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(REQUEST_TTL);
        let body = action.body();
        let response = self.send("POST", &url, &[], Some(body.as_bytes()))?;
        // S3 may answer 200 with an error document once the parts are joined.
        let text = read_text(response)?;
        match xml::first(&text, "Code") {
            Some(code) if text.contains("<Error") => Err(S3Failure::Status {
                code: 500,
                s3_code: code,
            }),
            _ => Ok(()),
        }
    }

    pub fn abort_multipart(&self, object: &str, upload_id: &str) -> Result<(), S3Failure> {
        let url =
            AbortMultipartUpload::new(&self.bucket, Some(&self.credentials), object, upload_id)
                .sign(REQUEST_TTL);
        match self.send("DELETE", &url, &[], None) {
            Err(S3Failure::Status { code: 404, .. }) => Ok(()),
            other => other.map(drop),
        }
    }

    /// A GET of `range` of the object (all when `None`), answered only while its ETag is
    /// `if_match`. The caller checks that the answer is the range it asked for.
    pub fn get(
        &self,
        object: &str,
        range: Option<std::ops::Range<u64>>,
        if_match: Option<&str>,
    ) -> Result<GetAnswer, S3Failure> {
        let (url, range_header) = self.get_request(object, range.as_ref());
        let headers = get_headers(range_header.as_deref(), if_match);
        let response = self.send("GET", &url, &headers, None)?;
        let len = response
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| S3Failure::Transport("a GET answered without Content-Length".into()))?;
        let content_range = ContentRange::of_answer(response.header("content-range"))?;
        let etag = response.header("etag").map(str::to_owned);
        Ok(GetAnswer {
            body: Box::new(response.into_reader()),
            len,
            content_range,
            etag,
        })
    }

    /// [`Client::get`] for a part of a large read: from an `http://` endpoint the body is
    /// read straight from the socket ([`plain_get`]).
    pub fn get_large(
        &self,
        object: &str,
        range: std::ops::Range<u64>,
        if_match: Option<&str>,
    ) -> Result<GetAnswer, S3Failure> {
        if self.bucket.base_url().scheme() != "http" {
            return self.get(object, Some(range), if_match);
        }
        let (url, range_header) = self.get_request(object, Some(&range));
        plain_get::get(&url, &get_headers(range_header.as_deref(), if_match))
    }

    /// The signed URL of a GET and its Range header.
    fn get_request(
        &self,
        object: &str,
        range: Option<&std::ops::Range<u64>>,
    ) -> (Url, Option<String>) {
        let url = GetObject::new(&self.bucket, Some(&self.credentials), object).sign(REQUEST_TTL);
        let range = range.map(|r| format!("bytes={}-{}", r.start, r.end.saturating_sub(1)));
        (url, range)
    }

    /// HEAD of an object; its length when the answer says.
    pub fn head(&self, object: &str) -> Result<Option<u64>, S3Failure> {
        let url = HeadObject::new(&self.bucket, Some(&self.credentials), object).sign(REQUEST_TTL);
        let response = self.send("HEAD", &url, &[], None)?;
        Ok(response
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok()))
    }

    pub fn delete(&self, object: &str) -> Result<(), S3Failure> {
        let url =
            DeleteObject::new(&self.bucket, Some(&self.credentials), object).sign(REQUEST_TTL);
        match self.send("DELETE", &url, &[], None) {
            Err(S3Failure::Status { code: 404, .. }) => Ok(()),
            other => other.map(drop),
        }
    }

    /// A presigned GET that makes the store answer with these headers.
    pub fn presign_get(
        &self,
        object: &str,
        content_disposition: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Url {
        let mut action = GetObject::new(&self.bucket, Some(&self.credentials), object);
        let query = action.query_mut();
        query.insert(
            "response-content-disposition",
            content_disposition.to_owned(),
        );
        query.insert("response-content-type", content_type.to_owned());
        action.sign(ttl)
    }

    /// Up to `limit` objects under `prefix` after `start_after`; the flag says whether more
    /// follow.
    pub fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ListedObject>, bool), S3Failure> {
        let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
        if !prefix.is_empty() {
            action.with_prefix(prefix.to_owned());
        }
        if let Some(after) = start_after {
            action.with_start_after(after.to_owned());
        }
        action.with_max_keys(limit);
        let url = action.sign(REQUEST_TTL);
        let text = read_text(self.send("GET", &url, &[], None)?)?;
        let parsed = ListObjectsV2::parse_response(&text)
            .map_err(|e| S3Failure::Transport(format!("unreadable listing: {e}")))?;
        let more = parsed.next_continuation_token.is_some()
            || xml::first(&text, "IsTruncated").as_deref() == Some("true");
        let objects = parsed
            .contents
            .into_iter()
            .map(|c| ListedObject {
                modified: c
                    .last_modified
                    .as_deref()
                    .and_then(xml::parse_time)
                    .unwrap_or(SystemTime::UNIX_EPOCH),
                object: c.key,
            })
            .collect();
        Ok((objects, more))
    }

    /// Unfinished multipart uploads under `prefix`, every page.
    pub fn unfinished_uploads(&self, prefix: &str) -> Result<Vec<UnfinishedUpload>, S3Failure> {
        let mut uploads = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            // rusty-s3 has no ListMultipartUploads action; its signer covers any request.
            let mut query: Vec<(&str, &str)> = vec![("prefix", prefix), ("uploads", "")];
            if let Some((key, id)) = &markers {
                query.push(("key-marker", key));
                query.push(("upload-id-marker", id));
            }
            query.sort();
            let url = rusty_s3::signing::sign(
                &jiff::Timestamp::now(),
                rusty_s3::Method::Get,
                self.bucket.base_url().clone(),
                self.credentials.key(),
                self.credentials.secret(),
                self.credentials.token(),
                self.bucket.region(),
                REQUEST_TTL.as_secs(),
                query.into_iter(),
                std::iter::empty(),
            );
            let text = read_text(self.send("GET", &url, &[], None)?)?;
            for block in xml::blocks(&text, "Upload") {
                if let (Some(object), Some(upload_id)) =
                    (xml::first(block, "Key"), xml::first(block, "UploadId"))
                {
                    uploads.push(UnfinishedUpload {
                        object,
                        upload_id,
                        initiated: xml::first(block, "Initiated")
                            .as_deref()
                            .and_then(xml::parse_time),
                    });
                }
            }
            let truncated = xml::first(&text, "IsTruncated").as_deref() == Some("true");
            let next = (
                xml::first(&text, "NextKeyMarker"),
                xml::first(&text, "NextUploadIdMarker"),
            );
            match next {
                (Some(key), Some(id)) if truncated && !key.is_empty() => {
                    markers = Some((key, id));
                }
                _ => return Ok(uploads),
            }
        }
    }
}

fn get_headers<'a>(range: Option<&'a str>, if_match: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut headers = Vec::new();
    if let Some(range) = range {
        headers.push(("Range", range));
    }
    if let Some(etag) = if_match {
        headers.push(("If-Match", etag));
    }
    headers
}

fn read_text(response: ureq::Response) -> Result<String, S3Failure> {
    response
        .into_string()
        .map_err(|e| S3Failure::Transport(format!("reading the answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::ContentRange;

    #[test]
    fn content_range_is_parsed_or_refused() {
        let parsed = |v| ContentRange::parse(v);
        assert_eq!(
            parsed("bytes 0-8388607/1073741824"),
            Some(ContentRange {
                first: 0,
                last: 8_388_607,
                total: Some(1 << 30)
            })
        );
        assert_eq!(
            parsed("bytes 5-5/*"),
            Some(ContentRange {
                first: 5,
                last: 5,
                total: None
            })
        );
        for bad in [
            "",
            "bytes */100",
            "bytes 5-4/100",
            "bytes 0-100/100",
            "items 0-1/2",
            "bytes 0-x/2",
            "bytes 0-1",
        ] {
            assert_eq!(parsed(bad), None, "{bad:?}");
        }
    }
}

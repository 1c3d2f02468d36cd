//! The registry's errors: the distribution spec's codes in its JSON envelope
//! (`{"errors":[{"code","message","detail"}]}`), and the kit's errors mapped onto them in one
//! place.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use packages_api::error::ApiError;
use packages_service::limits as limit_errors;
use serde_json::{json, Value};

/// The `Range` header value of an upload at `offset`: the last byte received (`0-0` for an
/// empty upload, as the reference registry answers).
pub fn range_value(offset: u64) -> String {
    format!("0-{}", offset.saturating_sub(1))
}

/// One registry error.
#[derive(Debug, Clone)]
pub struct OciError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub detail: Value,
    /// Answer with `Range` of the upload (a 416 says where the upload stands).
    pub range: Option<u64>,
    /// Answer with `Retry-After` (seconds).
    pub retry_after: Option<u64>,
}

pub type OciResult<T> = Result<T, OciError>;

impl OciError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        OciError {
            status,
            code,
            message: message.into(),
            detail: Value::Null,
            range: None,
            retry_after: None,
        }
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        OciError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn denied(message: impl Into<String>) -> Self {
        OciError::new(StatusCode::FORBIDDEN, "DENIED", message)
    }

    pub fn name_invalid(name: &str) -> Self {
        OciError::new(
            StatusCode::BAD_REQUEST,
            "NAME_INVALID",
            "invalid repository name: lower-case components separated by '/', after the owner",
        )
        .with_detail(json!({ "name": name }))
    }

    pub fn name_unknown() -> Self {
        OciError::new(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
        )
    }

    pub fn tag_invalid(tag: &str) -> Self {
        OciError::new(
            StatusCode::BAD_REQUEST,
            "TAG_INVALID",
            "invalid tag: at most 128 of [a-zA-Z0-9._-], not starting with '.' or '-'",
        )
        .with_detail(json!({ "tag": tag }))
    }

    pub fn digest_invalid(message: impl Into<String>) -> Self {
        OciError::new(StatusCode::BAD_REQUEST, "DIGEST_INVALID", message)
    }

    pub fn unsupported_digest(algorithm: &str) -> Self {
        OciError::new(
            StatusCode::BAD_REQUEST,
            "UNSUPPORTED",
            "only sha256 digests are supported",
        )
        .with_detail(json!({ "algorithm": algorithm }))
    }

    pub fn blob_unknown(digest: &str) -> Self {
        OciError::new(
            StatusCode::NOT_FOUND,
            "BLOB_UNKNOWN",
            "blob unknown to registry",
        )
        .with_detail(json!({ "digest": digest }))
    }

    pub fn upload_unknown() -> Self {
        OciError::new(
            StatusCode::NOT_FOUND,
            "BLOB_UPLOAD_UNKNOWN",
            "blob upload unknown to registry",
        )
    }

    pub fn upload_invalid(status: StatusCode, message: impl Into<String>) -> Self {
        OciError::new(status, "BLOB_UPLOAD_INVALID", message)
    }

    pub fn manifest_unknown(reference: &str) -> Self {
        OciError::new(
            StatusCode::NOT_FOUND,
            "MANIFEST_UNKNOWN",
            "manifest unknown to registry",
        )
        .with_detail(json!({ "reference": reference }))
    }

    pub fn manifest_invalid(message: impl Into<String>) -> Self {
        OciError::new(StatusCode::BAD_REQUEST, "MANIFEST_INVALID", message)
    }

    pub fn manifest_blob_unknown(digest: &str) -> Self {
        OciError::new(
            StatusCode::BAD_REQUEST,
            "MANIFEST_BLOB_UNKNOWN",
            "the manifest references a blob or manifest unknown to this repository",
        )
        .with_detail(json!({ "digest": digest }))
    }

    pub fn size_invalid(message: impl Into<String>) -> Self {
        OciError::new(StatusCode::PAYLOAD_TOO_LARGE, "SIZE_INVALID", message)
    }

    pub fn unsupported(message: impl Into<String>) -> Self {
        OciError::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", message)
    }

    /// The response, without the headers every registry answer carries (added by the
    /// caller, which knows the request).
    pub fn response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        if let Some(offset) = self.range {
            builder.insert_header(("Range", range_value(offset)));
        }
        if let Some(secs) = self.retry_after {
            builder.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        builder.json(json!({
            "errors": [{
                "code": self.code,
                "message": self.message,
                "detail": self.detail,
            }]
        }))
    }
}

impl From<ApiError> for OciError {
    fn from(e: ApiError) -> Self {
        let message = e.to_string();
        match e {
            ApiError::BadCredentials | ApiError::Unauthorized(_) => OciError::unauthorized(message),
            ApiError::Forbidden(m)
                if m == limit_errors::TYPE_SIZE
                    || m == limit_errors::OWNER_SIZE
                    || m == limit_errors::OWNER_COUNT =>
            {
                OciError::size_invalid(message)
            }
            ApiError::Forbidden(_) => OciError::denied(message),
            ApiError::NotFound(_) => OciError::name_unknown(),
            ApiError::PayloadTooLarge(_) => OciError::size_invalid(message),
            ApiError::Validation(_) | ApiError::BadRequest(_) => {
                OciError::new(StatusCode::BAD_REQUEST, "UNSUPPORTED", message)
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                let mut e =
                    OciError::new(StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS", message);
                e.retry_after = Some(retry_after_secs);
                e
            }
            ApiError::MethodNotAllowed(_) => OciError::unsupported(message),
            ApiError::Conflict(_) | ApiError::Locked(_) => {
                OciError::upload_invalid(e.status_code(), message)
            }
            ApiError::IncompleteBody => OciError::upload_invalid(StatusCode::BAD_REQUEST, message),
            ApiError::Unavailable(_) | ApiError::StorageUnavailable(_) => {
                let mut e = OciError::new(e.status_code(), "UNAVAILABLE", message);
                e.retry_after = Some(5);
                e
            }
            other => {
                let status = other.status_code();
                if status.is_server_error() {
                    // The kit logs the cause; the client learns only that it failed.
                    log::error!("container registry: {other}");
                    OciError::new(status, "UNKNOWN", "internal server error")
                } else {
                    OciError::new(status, "UNKNOWN", message)
                }
            }
        }
    }
}

impl From<packages_service::ServiceError> for OciError {
    fn from(e: packages_service::ServiceError) -> Self {
        OciError::from(ApiError::from(e))
    }
}

impl From<packages_db::DbError> for OciError {
    fn from(e: packages_db::DbError) -> Self {
        OciError::from(ApiError::from(e))
    }
}

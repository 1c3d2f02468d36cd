//! The one error type of the HTTP layer and its mapping to status codes. The use cases'
//! [`ServiceError`] becomes an [`ApiError`] here, so every status is decided in this file.
//!
//! Registry routes answer with short plain-text messages (the texts clients of the reference
//! registry match on are kept verbatim); `/api/v1` routes answer with `{"message": …, "url": …}`. The
//! status of every error is decided here and nowhere else. Internal details are logged once
//! and never sent to the client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use packages_core::ValidationError;
use packages_db::DbError;
use packages_service::ServiceError;

/// Realm sent with every 401 so clients know to retry with Basic credentials.
pub const AUTH_REALM: &str = "Basic realm=\"Gitea Package API\"";

/// The `url` of `/api/v1` error bodies. Gitea points at its API documentation there; the
/// path is relative because an error is rendered without the request's address.
pub const API_DOCS_URL: &str = "/api/swagger";

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Credentials were sent but are not valid.
    #[error("invalid credentials")]
    BadCredentials,
    /// The doer (or nobody) may not do this; signing in may help.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Refused whoever asks (scope limits, limits of the registry).
    #[error("{0}")]
    Forbidden(&'static str),
    /// A named thing does not exist (`package does not exist`, …).
    #[error("{0}")]
    NotFound(&'static str),
    /// The path matches no route.
    #[error("404 page not found")]
    NoRoute,
    /// None of the representations the client accepts can be served.
    #[error("{0}")]
    NotAcceptable(&'static str),
    /// The path matches a route that does not take this method.
    #[error("method not allowed")]
    MethodNotAllowed(&'static [Method]),
    /// A name, version or file name broke the rules.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The request is malformed in another way.
    #[error("{0}")]
    BadRequest(String),
    /// A conditional request's precondition does not hold.
    #[error("{0}")]
    PreconditionFailed(&'static str),
    /// The thing to create exists already.
    #[error("{0}")]
    Conflict(&'static str),
    /// Well-formed but refused input: a taken name, an invalid field, a forbidden state
    /// change (the reference API's 422).
    #[error("{0}")]
    Unprocessable(String),
    /// The body's media type is not the one the route takes.
    #[error("{0}")]
    UnsupportedMediaType(&'static str),
    /// A resumable upload's client speaks a protocol version this server does not.
    #[error("unsupported Tus-Resumable version; this server speaks 1.0.0")]
    TusVersion,
    /// A resumable upload's chunk does not have the checksum its client sent (tus 460).
    #[error("checksum mismatch; the chunk was discarded")]
    ChecksumMismatch,
    /// Another request is writing to the same resumable upload.
    #[error("{0}")]
    Locked(&'static str),
    /// The thing existed but is gone for good (an expired resumable upload).
    #[error("{0}")]
    Gone(&'static str),
    /// The request body is larger than the server takes for this route.
    #[error("{0}")]
    PayloadTooLarge(&'static str),
    /// Too many failed attempts from this client or for this account; try again later.
    #[error("too many failed attempts; try again in {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    /// The body stopped arriving for longer than the idle timeout.
    #[error("request body timed out: too little arrived in {} s", .0.as_secs())]
    BodyTimeout(std::time::Duration),
    /// The client went away or sent less than it announced.
    #[error("request body incomplete")]
    IncompleteBody,
    /// The database or storage cannot serve now; retrying later may work. The text says
    /// what is unavailable and is shown to the client.
    #[error("service temporarily unavailable: {0}")]
    Unavailable(String),
    /// The package storage (an object store) cannot be reached or refuses to work now.
    #[error("package storage temporarily unavailable, try again later")]
    StorageUnavailable(String),
    /// The storage (or the database's disk) is full.
    #[error("insufficient storage: {0}")]
    InsufficientStorage(String),
    /// A step that may not block needed to; the caller retries it on the blocking pool. Never
    /// sent to a client.
    #[error("internal server error")]
    WouldBlock,
    /// A bug or an unexpected failure; the detail is only logged.
    #[error("internal server error")]
    Internal(String),
}

impl ApiError {
    /// Wraps an unexpected failure.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError::Internal(detail.to_string())
    }

    /// The message shown to the client.
    pub fn public_message(&self) -> String {
        self.to_string()
    }

    /// Logs what only the server should see, once per response.
    pub fn log(&self) {
        match self {
            ApiError::Internal(detail) => log::error!("internal error: {detail}"),
            ApiError::Unavailable(detail) => log::warn!("unavailable: {detail}"),
            ApiError::StorageUnavailable(detail) => log::warn!("storage unavailable: {detail}"),
            ApiError::InsufficientStorage(detail) => log::warn!("storage full: {detail}"),
            ApiError::WouldBlock => log::error!("a step that may not block escaped to a client"),
            _ => {}
        }
    }

    /// Sets the headers this error's status calls for (`WWW-Authenticate`, `Allow`,
    /// `Retry-After`).
    pub fn decorate(&self, builder: &mut actix_web::HttpResponseBuilder) {
        match self {
            ApiError::BadCredentials | ApiError::Unauthorized(_) => {
                builder.insert_header((header::WWW_AUTHENTICATE, AUTH_REALM));
            }
            ApiError::MethodNotAllowed(methods) => {
                let allow = methods
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                if let Ok(v) = HeaderValue::from_str(&allow) {
                    builder.insert_header((header::ALLOW, v));
                }
            }
            ApiError::Unavailable(_) | ApiError::StorageUnavailable(_) => {
                builder.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                builder.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::TusVersion => {
                builder.insert_header(("Tus-Version", "1.0.0"));
            }
            _ => {}
        }
    }

    /// The JSON rendering used by the `/api/v1` routes.
    pub fn json_response(&self) -> HttpResponse {
        self.log();
        let mut builder = HttpResponse::build(self.status_code());
        self.decorate(&mut builder);
        builder.json(ErrorBody {
            message: self.public_message(),
            url: API_DOCS_URL,
        })
    }
}

/// The body of every `/api/v1` error (Gitea's `APIError`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What was wrong, for people.
    pub message: String,
    /// Where the API is documented.
    #[schema(value_type = String)]
    pub url: &'static str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadCredentials | ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable(_) => StatusCode::NOT_ACCEPTABLE,
            ApiError::Validation(_) | ApiError::BadRequest(_) | ApiError::IncompleteBody => {
                StatusCode::BAD_REQUEST
            }
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TusVersion => StatusCode::PRECONDITION_FAILED,
            ApiError::ChecksumMismatch => {
                StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST)
            }
            ApiError::Locked(_) => StatusCode::LOCKED,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::StorageUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::InsufficientStorage(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) | ApiError::WouldBlock => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let mut builder = HttpResponse::build(self.status_code());
        self.decorate(&mut builder);
        if matches!(self, ApiError::MethodNotAllowed(_)) {
            return builder.finish();
        }
        builder
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(self.public_message())
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::BadCredentials => ApiError::BadCredentials,
            ServiceError::SignInRequired(m) => ApiError::Unauthorized(m),
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::NotFound(m) => ApiError::NotFound(m),
            ServiceError::Invalid(v) => ApiError::Validation(v),
            ServiceError::BadInput(m) => ApiError::BadRequest(m),
            ServiceError::PreconditionFailed(m) => ApiError::PreconditionFailed(m),
            ServiceError::Conflict(m) => ApiError::Conflict(m),
            ServiceError::Refused(m) => ApiError::Unprocessable(m),
            ServiceError::Busy(m) => ApiError::Locked(m),
            ServiceError::Expired(m) => ApiError::Gone(m),
            ServiceError::TooLarge(m) => ApiError::PayloadTooLarge(m),
            ServiceError::TooManyAttempts { retry_after_secs } => {
                ApiError::TooManyRequests { retry_after_secs }
            }
            ServiceError::IncompleteBody => ApiError::IncompleteBody,
            ServiceError::Unavailable(m) => ApiError::Unavailable(m),
            ServiceError::StorageUnavailable(m) => ApiError::StorageUnavailable(m),
            ServiceError::StorageFull(m) => ApiError::InsufficientStorage(m),
            ServiceError::WouldBlock => ApiError::WouldBlock,
            ServiceError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<packages_core::digest_header::MalformedDigestHeader> for ApiError {
    fn from(e: packages_core::digest_header::MalformedDigestHeader) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<packages_core::digest_header::DigestMismatch> for ApiError {
    fn from(e: packages_core::digest_header::DigestMismatch) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<forge_auth::signed_link::LinkError> for ApiError {
    fn from(e: forge_auth::signed_link::LinkError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<packages_core::StorageError> for ApiError {
    fn from(e: packages_core::StorageError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        ApiError::internal(e)
    }
}

/// An [`ApiError`] rendered as JSON, for the `/api/v1` routes.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct JsonError(#[from] pub ApiError);

impl From<DbError> for JsonError {
    fn from(e: DbError) -> Self {
        JsonError(e.into())
    }
}

impl ResponseError for JsonError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.json_response()
    }
}

/// Result of a registry handler.
pub type ApiResult<T> = Result<T, ApiError>;

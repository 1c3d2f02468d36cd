//! The one error type of the use cases. It says what went wrong in the registry's terms
//! (not found, refused, conflicting, unavailable); the HTTP layer decides status codes, in one
//! place (`packages_api::error`). Messages are shown to clients: the reference registry's
//! texts are kept verbatim, and internal details are only logged.

use packages_core::ValidationError;
use packages_db::DbError;

/// The refusal of an upload past the owner's storage quota.
pub const OWNER_SIZE: &str = "maximum allowed package storage quota exceeded";
/// The refusal of a new version past the owner's version count.
pub const OWNER_COUNT: &str = "maximum allowed package count exceeded";

/// Everything a use case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Credentials were sent but are not valid.
    #[error("invalid credentials")]
    BadCredentials,
    /// Nobody (or the wrong kind of credential) is signed in; signing in may help.
    #[error("{0}")]
    SignInRequired(&'static str),
    /// Refused whoever asks (permissions, scopes, limits of the registry).
    #[error("{0}")]
    Forbidden(&'static str),
    /// A named thing does not exist, or the caller may not know that it does.
    #[error("{0}")]
    NotFound(&'static str),
    /// A name, version or file name broke the format's rules.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The input is malformed in another way.
    #[error("{0}")]
    BadInput(String),
    /// A conditional change's precondition does not hold.
    #[error("{0}")]
    PreconditionFailed(&'static str),
    /// The thing to create exists already.
    #[error("{0}")]
    Conflict(&'static str),
    /// Well-formed but refused input: a taken name, an invalid field, a forbidden state
    /// change.
    #[error("{0}")]
    Refused(String),
    /// Another request holds the thing (a resumable upload being written).
    #[error("{0}")]
    Busy(&'static str),
    /// The thing existed but is gone for good (an expired resumable upload).
    #[error("{0}")]
    Expired(&'static str),
    /// More content than the store or the route takes.
    #[error("{0}")]
    TooLarge(&'static str),
    /// Too many failed attempts from this client or for this account; try again later.
    #[error("too many failed attempts; try again in {retry_after_secs} seconds")]
    TooManyAttempts { retry_after_secs: u64 },
    /// The client went away or sent less than it announced.
    #[error("request body incomplete")]
    IncompleteBody,
    /// The database cannot serve now; retrying later may work. The text says what is
    /// unavailable and is shown to the client.
    #[error("service temporarily unavailable: {0}")]
    Unavailable(String),
    /// The package storage (an object store) cannot be reached or refuses to work now.
    #[error("package storage temporarily unavailable, try again later")]
    StorageUnavailable(String),
    /// The storage (or the database's disk) is full.
    #[error("insufficient storage: {0}")]
    StorageFull(String),
    /// A step that may not block needed to; the caller repeats it where blocking is allowed.
    #[error("internal server error")]
    WouldBlock,
    /// A bug or an unexpected failure; the detail is only logged.
    #[error("internal server error")]
    Internal(String),
}

/// Result of a use case.
pub type ServiceResult<T> = Result<T, ServiceError>;

/// Why a conditional upload was refused.
pub const PRECONDITION_FAILED: &str = "the file does not match the request's precondition";

impl ServiceError {
    /// Wraps an unexpected failure.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ServiceError::Internal(detail.to_string())
    }
}

impl From<DbError> for ServiceError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => ServiceError::NotFound("not found"),
            DbError::FileExists => ServiceError::Conflict("package file already exists"),
            DbError::PreconditionFailed => ServiceError::PreconditionFailed(PRECONDITION_FAILED),
            DbError::CountLimit => ServiceError::Forbidden(OWNER_COUNT),
            DbError::SizeLimit => ServiceError::Forbidden(OWNER_SIZE),
            DbError::PoolTimeout | DbError::Unavailable | DbError::Locked | DbError::ReadOnly => {
                ServiceError::Unavailable(e.to_string())
            }
            DbError::Full => ServiceError::StorageFull(e.to_string()),
            DbError::EmailTaken => ServiceError::Refused(e.to_string()),
            DbError::LastAdmin => ServiceError::BadInput(e.to_string()),
            other => ServiceError::internal(other),
        }
    }
}

impl From<packages_core::digest_header::MalformedDigestHeader> for ServiceError {
    fn from(e: packages_core::digest_header::MalformedDigestHeader) -> Self {
        ServiceError::BadInput(e.to_string())
    }
}

impl From<packages_core::digest_header::DigestMismatch> for ServiceError {
    fn from(e: packages_core::digest_header::DigestMismatch) -> Self {
        ServiceError::BadInput(e.to_string())
    }
}

/// A refused signed link, saying why.
impl From<forge_auth::signed_link::LinkError> for ServiceError {
    fn from(e: forge_auth::signed_link::LinkError) -> Self {
        use forge_auth::signed_link::LinkError;
        ServiceError::SignInRequired(match e {
            LinkError::Malformed => "the download link is malformed",
            LinkError::UnknownKey => {
                "the download link was signed with a key this server does not know"
            }
            LinkError::BadSignature => "the download link's signature is invalid",
            LinkError::Expired => "the download link has expired",
            LinkError::WrongAudience => "the token is not a download link",
        })
    }
}

impl From<packages_core::StorageError> for ServiceError {
    fn from(e: packages_core::StorageError) -> Self {
        use packages_core::StorageError;
        match e {
            StorageError::Unavailable(detail) => ServiceError::StorageUnavailable(detail),
            StorageError::TooLarge => {
                ServiceError::TooLarge("file too large for the package storage")
            }
            StorageError::Io(io) if is_storage_full(&io) => {
                ServiceError::StorageFull("no space left for package files".to_owned())
            }
            other => ServiceError::internal(other),
        }
    }
}

/// True for a full disk or an exhausted quota.
fn is_storage_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

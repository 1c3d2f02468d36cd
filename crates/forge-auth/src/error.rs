//! The crate-wide error for operations that can fail outside credential parsing.

use crate::scope::UnknownScope;

/// Why a password, token or scope operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A new password is shorter than the minimum.
    #[error("password must be at least {min} bytes long")]
    PasswordTooShort { min: usize },
    /// A new password is longer than bcrypt can use; we refuse instead of truncating it.
    #[error("password must be at most {max} bytes long")]
    PasswordTooLong { max: usize },
    /// bcrypt refused to hash (for example a cost outside 4..=31). The message is for logs.
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    /// A token scope list names a scope that does not exist.
    #[error(transparent)]
    UnknownScope(#[from] UnknownScope),
    /// The random number generator or another cryptographic primitive failed. The message
    /// is for logs.
    #[error("cryptographic primitive failed: {0}")]
    Crypto(String),
}

impl From<getrandom::Error> for AuthError {
    fn from(e: getrandom::Error) -> Self {
        AuthError::Crypto(format!("random number generator: {e}"))
    }
}

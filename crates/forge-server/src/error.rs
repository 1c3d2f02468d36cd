//! Why the server could not start or an operation on its backends failed.

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("database: {0}")]
    Database(#[from] packages_db::DbError),
    #[error("storage: {0}")]
    Storage(#[from] packages_core::StorageError),
    /// The storage settings cannot work; the message names the setting.
    #[error("{0}")]
    StorageSetup(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    #[error("authentication set-up: {0}")]
    Auth(String),
    /// `[limits] size_<type>` names a format the server does not serve.
    #[error("limits.size_{0}: no package format of type {0} is served")]
    UnknownFormat(String),
    #[error("the server thread stopped before it started serving")]
    ThreadDied,
}

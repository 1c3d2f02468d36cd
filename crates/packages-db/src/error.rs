//! The errors every database operation can end with.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What went wrong in a database operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    /// The row the operation needs does not exist.
    #[error("not found")]
    NotFound,
    /// A unique name is already taken; the text says which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The version already has a file with this name (compared case-insensitively).
    #[error("package file already exists")]
    FileExists,
    /// A conditional write found the file missing or with other content.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The owner would have more package versions than allowed.
    #[error("maximum allowed package count exceeded")]
    CountLimit,
    /// The owner's packages would take more storage than allowed.
    #[error("maximum allowed package storage quota exceeded")]
    SizeLimit,
    /// No pooled connection became free in time; the server is busy.
    #[error("timed out waiting for a database connection")]
    PoolTimeout,
    /// Another user already has this e-mail address (compared case-insensitively).
    #[error("e-mail already in use")]
    EmailTaken,
    /// The change would leave the site without an administrator.
    #[error("the change would leave no site administrator who can sign in")]
    LastAdmin,
    /// The database cannot be reached or closed the connection.
    #[error("database unavailable")]
    Unavailable,
    /// Another process holds SQLite's write lock (a backup, a shell) for longer than a write
    /// may wait.
    #[error("database is locked by another process")]
    Locked,
    /// The database files cannot be written (read-only file system, immutable files).
    #[error("database is read-only")]
    ReadOnly,
    /// The disk holding the database is full.
    #[error("database disk is full")]
    Full,
    /// Applying or reverting the schema migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other failure, with the database's message.
    #[error("database error: {0}")]
    Other(String),
}

impl DbError {
    /// Classifies a diesel error where no operation-specific meaning applies.
    pub(crate) fn from_diesel(e: DieselError) -> DbError {
        match e {
            DieselError::NotFound => DbError::NotFound,
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => {
                log::warn!("database connection lost: {}", info.message());
                DbError::Unavailable
            }
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info) => {
                let message = info.message();
                // SQLite reports these by message only.
                if message.contains("database is locked") {
                    DbError::Locked
                } else if message.contains("readonly database") {
                    DbError::ReadOnly
                } else if message.contains("database or disk is full") {
                    DbError::Full
                } else if message.contains("disk I/O error")
                    || message.contains("unable to open database file")
                {
                    log::warn!("database file unusable: {message}");
                    DbError::Unavailable
                } else {
                    DbError::Other(message.to_owned())
                }
            }
            other => DbError::Other(other.to_string()),
        }
    }

    /// Classifies a failure to get a pooled connection. r2d2 only says it timed out; when it
    /// also carries the last connection error, the database itself is unreachable.
    pub(crate) fn from_pool(e: r2d2::Error) -> DbError {
        let text = e.to_string();
        if text.contains(": ") {
            log::warn!("cannot connect to the database: {text}");
            DbError::Unavailable
        } else {
            DbError::PoolTimeout
        }
    }
}

impl From<DieselError> for DbError {
    fn from(e: DieselError) -> Self {
        DbError::from_diesel(e)
    }
}

/// The error type inside a transaction: a raw diesel error keeps its kind so that the retry
/// loop can tell races (worth another attempt) from real failures.
#[derive(Debug)]
pub(crate) enum TxError {
    Diesel(DieselError),
    Db(DbError),
}

impl From<DieselError> for TxError {
    fn from(e: DieselError) -> Self {
        TxError::Diesel(e)
    }
}

impl From<DbError> for TxError {
    fn from(e: DbError) -> Self {
        TxError::Db(e)
    }
}

impl From<TxError> for DbError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Diesel(d) => DbError::from_diesel(d),
            TxError::Db(d) => d,
        }
    }
}

impl TxError {
    /// True for failures a concurrent transaction caused, which a fresh attempt can get past:
    /// serialization failures and deadlocks on PostgreSQL. A busy SQLite database is not
    /// retried: this process's writers queue before SQLite, so the lock is held by another
    /// process, and the write has already waited as long as it may.
    pub(crate) fn is_retryable(&self) -> bool {
        let TxError::Diesel(DieselError::DatabaseError(kind, info)) = self else {
            return false;
        };
        match kind {
            DatabaseErrorKind::SerializationFailure => true,
            DatabaseErrorKind::Unknown => {
                let msg = info.message();
                msg.contains("deadlock detected") || msg.contains("database table is locked")
            }
            _ => false,
        }
    }

    /// True when the database could not be reached.
    pub(crate) fn is_unavailable(&self) -> bool {
        match self {
            TxError::Db(e) => matches!(e, DbError::Unavailable),
            TxError::Diesel(DieselError::DatabaseError(kind, _)) => matches!(
                kind,
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
            ),
            TxError::Diesel(_) => false,
        }
    }

    /// True when the failure is a unique-index violation.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            TxError::Diesel(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// True when the failure is a unique-index violation on a column or index whose name
    /// contains `name` (PostgreSQL names the index, SQLite the columns).
    pub(crate) fn is_unique_violation_of(&self, name: &str) -> bool {
        match self {
            TxError::Diesel(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                info,
            )) => {
                info.constraint_name().is_some_and(|c| c.contains(name))
                    || info.message().contains(name)
            }
            _ => false,
        }
    }

    /// True when the failure is a foreign-key violation.
    pub(crate) fn is_foreign_key_violation(&self) -> bool {
        matches!(
            self,
            TxError::Diesel(DieselError::DatabaseError(
                DatabaseErrorKind::ForeignKeyViolation,
                _
            ))
        )
    }
}

/// Result of the operations inside a transaction.
pub(crate) type TxResult<T> = Result<T, TxError>;

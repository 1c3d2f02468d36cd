//! What every format's validation shares: the longest accepted field and the error type.
//! The rules themselves belong to the formats (e.g. [`crate::generic`]).

/// Longest name, version or file name accepted, in bytes (the width of the columns).
pub const MAX_FIELD_BYTES: usize = 255;

/// Why a part of an upload was refused. The messages are what clients see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("invalid package name")]
    PackageName,
    #[error("invalid filename")]
    FileName,
    #[error("invalid package version")]
    PackageVersion,
    /// A format's own rule, with the message its clients expect.
    #[error("{0}")]
    Rule(&'static str),
}

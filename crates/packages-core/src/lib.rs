//! Domain model of forge-packages: package types and each format's rules (names, versions,
//! file names), content digests, owner visibility and access modes, size limits, and the blob
//! store trait.
//!
//! This crate knows nothing about HTTP or SQL; the other crates build on its types.

pub mod access;
pub mod blob_store;
pub mod clock;
pub mod digest;
pub mod digest_header;
pub mod format;
pub mod limits;
pub mod lowercase;
pub mod newest;
pub mod owner_name;
pub mod package_type;
pub mod retention;
pub mod validation;

pub use access::{AccessMode, OwnerKind, Visibility};
pub use blob_store::{
    BlobReader, BlobStore, DigestPass, DirectDownload, KeyPage, ListedKey, PendingBlob,
    ResumableAppend, StorageError, StoredBlob,
};
pub use digest::{Digests, MultiHasher};
pub use format::{FormatRules, Staging};
pub use limits::{parse_size_limit, Limit, Limits};
pub use lowercase::lower;
pub use owner_name::{check_owner_name, is_email, OwnerNameError, MAX_NAME_CHARS};
pub use package_type::PackageType;
pub use validation::{ValidationError, MAX_FIELD_BYTES};

//! Blob storage of forge-packages.
//!
//! [`LocalBlobStore`] keeps package files on local disk, content-addressed by SHA-256, and
//! implements [`packages_core::BlobStore`]. [`start_ingest`] is the upload pipeline the HTTP
//! layer feeds with request body chunks: it writes them to a pending blob and computes the
//! four digests off the async executor, with bounded memory, using a second core for large
//! bodies.

pub mod ingest;
pub mod local;
pub mod s3;
mod unnamed;
mod writeback;
mod writers;

pub use ingest::{
    digest_parallel, hash_lanes, hash_rate_probe, hash_through, start_ingest, IngestError,
    IngestHandle, IngestOptions, IngestSender, Ingested, PARALLEL_HASH_THRESHOLD,
};
pub use local::LocalBlobStore;
pub use s3::{S3BlobStore, S3Problem, S3Settings};

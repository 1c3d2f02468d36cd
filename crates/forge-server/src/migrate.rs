//! `forge-server admin storage migrate --to s3`: copies the content of a local store into the
//! configured bucket, under the key the S3 store gives content named by its digest
//! (`<prefix>sha256/<hex>`), and records that key in each blob row once the copy is checked.
//!
//! Each blob is streamed from its file into a multipart upload (memory: two 8 MiB parts)
//! while its SHA-256 is computed; a file whose content does not match its row ends the read
//! with an error, which aborts the upload, so the object never appears. The copy is then read
//! back from the bucket and hashed again: the requests are signed without a payload hash, so
//! nothing else proves that the bucket holds the bytes that were sent. Only then is the row's
//! `storage_key` written.
//!
//! Running it again is cheap: a row with its key recorded costs one HEAD (present with its
//! size: skipped), and an object an interrupted run completed but did not record is read back
//! and recorded without sending it again. The local files are left in place.

use std::fs::File;
use std::io::{self, Read, Write};

use packages_core::{BlobReader, BlobStore, Digests, StorageError};
use packages_db::{Database, PackageBlob};
use packages_storage::{LocalBlobStore, S3BlobStore};
use sha2::{Digest, Sha256};

/// Blob rows read per database query.
const PAGE: i64 = 500;
/// Read buffer of the local file and of the read-back.
const BUF: usize = 256 << 10;

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// Blob rows looked at.
    pub blobs: u64,
    /// Copied into the bucket (and checked and recorded) by this run.
    pub copied: u64,
    pub copied_bytes: u64,
    /// Already in the bucket, checked, and recorded.
    pub present: u64,
    /// Rows removed while the run went on (a delete and the sweep of a running server).
    pub gone: u64,
    /// Rows whose content already lives under an object-store upload key.
    pub elsewhere: u64,
    /// One line per blob that could not be moved; none of them was recorded.
    pub failed: Vec<String>,
}

/// Why one blob could not be moved.
#[derive(Debug, thiserror::Error)]
enum BlobFailure {
    #[error("the local file is missing ({0})")]
    LocalMissing(String),
    #[error("the local file is {actual} bytes, the row says {expected}")]
    LocalSize { actual: u64, expected: i64 },
    #[error("the local content does not match its SHA-256 (changed on disk); nothing was stored")]
    LocalCorrupt,
    #[error("the copy in the bucket does not match its SHA-256 when read back")]
    CopyCorrupt,
    #[error("reading the local file: {0}")]
    Local(io::Error),
    #[error("{0}")]
    Storage(#[from] StorageError),
    #[error("database: {0}")]
    Database(#[from] packages_db::DbError),
}

/// What happened to one blob.
enum Outcome {
    Copied,
    Present,
    Gone,
    Elsewhere,
}

/// Copies every blob of `local` that `db` lists into `bucket`. Blocking; progress goes to
/// `out`. An error is returned only when the run cannot go on (the database or the listing
/// fails); blobs that cannot be moved are listed in the report.
pub fn migrate_to_s3(
    db: &Database,
    local: &LocalBlobStore,
    bucket: &S3BlobStore,
    out: &mut dyn Write,
) -> Result<MigrateReport, packages_db::DbError> {
    let mut report = MigrateReport::default();
    let mut after = 0;
    loop {
        let page = db.blobs_after(after, PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for blob in &page {
            report.blobs += 1;
            let n = report.blobs;
            match move_blob(db, local, bucket, blob) {
                Ok(Outcome::Copied) => {
                    report.copied += 1;
                    report.copied_bytes += blob.size.max(0) as u64;
                    let _ = writeln!(
                        out,
                        "[{n}] copied {} ({} bytes, {} copied so far)",
                        blob.hash_sha256, blob.size, report.copied_bytes
                    );
                }
                Ok(Outcome::Present) => report.present += 1,
                Ok(Outcome::Gone) => report.gone += 1,
                Ok(Outcome::Elsewhere) => report.elsewhere += 1,
                Err(e) => {
                    let line = format!("{}: {e}", blob.hash_sha256);
                    let _ = writeln!(out, "[{n}] FAILED {line}");
                    report.failed.push(line);
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "{} blobs: {} copied ({} bytes), {} already in the bucket, {} removed meanwhile, \
         {} stored elsewhere, {} failed",
        report.blobs,
        report.copied,
        report.copied_bytes,
        report.present,
        report.gone,
        report.elsewhere,
        report.failed.len()
    );
    Ok(report)
}

fn move_blob(
    db: &Database,
    local: &LocalBlobStore,
    bucket: &S3BlobStore,
    blob: &PackageBlob,
) -> Result<Outcome, BlobFailure> {
    let sha = blob.hash_sha256.as_str();
    if !Digests::is_sha256_hex(sha) {
        return Err(BlobFailure::Storage(StorageError::InvalidKey));
    }
    match blob.storage_key.as_deref() {
        // Recorded by an earlier run, which checked the copy: present with its size suffices.
        Some(key) if key == sha => {
            if bucket.object_len(sha)? == u64::try_from(blob.size).ok() {
                return Ok(Outcome::Present);
            }
        }
        // An upload key: the content never was in a local store.
        Some(_) => return Ok(Outcome::Elsewhere),
        // Maybe completed by an interrupted run before it could record it.
        None => {
            if bucket.object_len(sha)? == u64::try_from(blob.size).ok()
                && bucket_copy_matches(bucket, blob)?
            {
                return record(db, blob, Outcome::Present);
            }
        }
    }
    let file = match local.path_of(sha).map(File::open) {
        Some(Ok(file)) => file,
        Some(Err(e)) if e.kind() == io::ErrorKind::NotFound => {
            // A running server may have deleted the file and swept its content meanwhile.
            return match db.blob_by_sha256(sha)? {
                None => Ok(Outcome::Gone),
                Some(_) => Err(BlobFailure::LocalMissing(e.to_string())),
            };
        }
        Some(Err(e)) => return Err(BlobFailure::Local(e)),
        None => return Err(BlobFailure::Storage(StorageError::InvalidKey)),
    };
    let actual = file.metadata().map_err(BlobFailure::Local)?.len();
    if i64::try_from(actual).ok() != Some(blob.size) {
        return Err(BlobFailure::LocalSize {
            actual,
            expected: blob.size,
        });
    }
    let mut reader = CheckingReader::new(file, sha);
    if let Err(e) = bucket.put_by_digest_from(sha, &mut reader) {
        return Err(if reader.mismatch {
            BlobFailure::LocalCorrupt
        } else if let Some(e) = reader.error.take() {
            BlobFailure::Local(e)
        } else {
            BlobFailure::Storage(e)
        });
    }
    if !bucket_copy_matches(bucket, blob)? {
        return Err(BlobFailure::CopyCorrupt);
    }
    record(db, blob, Outcome::Copied)
}

fn record(db: &Database, blob: &PackageBlob, outcome: Outcome) -> Result<Outcome, BlobFailure> {
    if db.set_blob_storage_key(blob.id, &blob.hash_sha256)? {
        Ok(outcome)
    } else {
        Ok(Outcome::Gone)
    }
}

/// Reads the object back and compares its length and SHA-256 with the row.
fn bucket_copy_matches(bucket: &S3BlobStore, blob: &PackageBlob) -> Result<bool, BlobFailure> {
    let (mut reader, len): (Box<dyn Read>, u64) = match bucket.open(&blob.hash_sha256, None)? {
        BlobReader::Stream(reader, len) => (reader, len),
        BlobReader::File(file, len) => (Box::new(file), len),
    };
    if i64::try_from(len).ok() != Some(blob.size) {
        return Ok(false);
    }
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; BUF];
    let mut read = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(StorageError::Io)?;
        if n == 0 {
            break;
        }
        read += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok(read == len && hex::encode(hasher.finalize()) == blob.hash_sha256)
}

/// Hashes what passes through and, at the end, fails the read when the SHA-256 is not the
/// expected one: the upload it feeds is then aborted instead of completed.
struct CheckingReader {
    file: File,
    hasher: Sha256,
    expected: String,
    mismatch: bool,
    /// The end was reached and checked.
    finished: bool,
    /// A read error of the file, kept to be reported as such.
    error: Option<io::Error>,
}

impl CheckingReader {
    fn new(file: File, expected: &str) -> Self {
        CheckingReader {
            file,
            hasher: Sha256::new(),
            expected: expected.to_owned(),
            mismatch: false,
            finished: false,
            error: None,
        }
    }
}

impl Read for CheckingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.file.read(buf) {
            Ok(n) => n,
            Err(e) => {
                let kind = e.kind();
                self.error = Some(e);
                return Err(io::Error::new(kind, "reading the local file"));
            }
        };
        if n > 0 {
            self.hasher.update(&buf[..n]);
            return Ok(n);
        }
        if self.finished {
            return Ok(0);
        }
        self.finished = true;
        let digest = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if digest != self.expected {
            self.mismatch = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "content does not match its SHA-256",
            ));
        }
        Ok(0)
    }
}

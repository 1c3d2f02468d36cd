//! Package content in an S3-compatible object store (AWS S3, MinIO, SeaweedFS, Ceph RGW,
//! Garage, R2, …).
//!
//! Layout under the configured prefix:
//!
//! ```text
//! <prefix>upload/<32 hex>   content of one upload (named after its writer, see upload_id);
//!                           the blob row records this key
//! <prefix>sha256/<hex>      content named by its SHA-256 (moved in from a local store)
//! <prefix>resumable/<32 hex>  content of a completed resumable upload ([`resumable`])
//! <prefix>resumable-tail/…    bytes of resumable uploads in progress past their last part
//! ```
//!
//! Every upload writes an object of its own, as a multipart upload whose parts are sent
//! while the body still arrives; the object appears only when the upload is completed, so no
//! reader sees partial content. Giving each upload its own key avoids copying the object to
//! a name known only at the end (a second transfer, and a single copy is limited to 5 GiB
//! on AWS). Identical content is stored once all the same: the database keeps one blob row
//! per SHA-256, and an upload whose content was already there removes its own object after
//! its commit ([`StoredBlob::confirm`] with `used == false`).
//!
//! Memory per upload is bounded by the parts being sent and the one being filled: two parts,
//! or up to four while a process-wide budget has room ([`part_sender`]).
//! Content smaller than a part is sent with one PUT.
//!
//! A read of more than 8 MiB is fetched as ranged GETs, four at once, and delivered in
//! order ([`read_ahead`], [`download`]): at most 32 MiB per read, 256 MiB for all reads.
//! From an `http://` endpoint those GETs bypass ureq's 8 KiB reads ([`plain_get`]).

mod client;
mod download;
mod part_sender;
mod plain_get;
mod read_ahead;
mod resumable;
mod xml;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::SystemTime;

use packages_core::{
    BlobReader, BlobStore, DigestPass, Digests, DirectDownload, KeyPage, ListedKey, PendingBlob,
    ResumableAppend, StorageError, StoredBlob,
};

use client::{Client, S3Failure};
use part_sender::{Claim, Part, PartSender};

use crate::writers;

/// Size of the parts of a multipart upload (S3 takes 5 MiB to 5 GiB). With at most 10,000
/// parts this allows objects of up to 78 GiB; larger bodies are refused, never truncated.
pub const PART_SIZE: usize = 8 << 20;
/// S3's limit on the number of parts.
const MAX_PARTS: usize = 10_000;

const UPLOAD_DIR: &str = "upload/";
const SHA256_DIR: &str = "sha256/";

/// A secret that `Debug` does not show.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretKey(String);

impl SecretKey {
    pub fn new(value: impl Into<String>) -> Self {
        SecretKey(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the bucket is and how to reach it.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `http://host:port` or `https://host` (TLS with rustls and the Mozilla roots).
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretKey,
    /// Address the bucket as `endpoint/bucket/key` (true) or `bucket.endpoint/key`.
    pub path_style: bool,
    /// Prefix of every object this store writes, e.g. `packages/`.
    pub prefix: String,
}

/// What is wrong with the settings, found by [`S3BlobStore::probe`].
#[derive(Debug, thiserror::Error)]
pub enum S3Problem {
    #[error("not a usable endpoint: {0}")]
    Endpoint(String),
    #[error("cannot reach the object store: {0}")]
    Unreachable(String),
    #[error("the object store refuses the credentials ({0})")]
    Credentials(String),
    #[error("the bucket does not exist")]
    NoBucket,
    #[error("the object store answered {0}")]
    Other(String),
}

/// A [`BlobStore`] in an S3 bucket.
pub struct S3BlobStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    prefix: String,
}

impl fmt::Debug for S3BlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3BlobStore")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl S3BlobStore {
    /// Sets up the client; no request is sent (see [`S3BlobStore::probe`]).
    pub fn new(settings: &S3Settings) -> Result<Self, S3Problem> {
        let client = Client::new(settings).map_err(S3Problem::Endpoint)?;
        Ok(S3BlobStore {
            inner: Arc::new(Inner {
                client,
                prefix: settings.prefix.clone(),
            }),
        })
    }

    /// Asks the store for the bucket: reachable, credentials accepted, bucket present.
    pub fn probe(&self) -> Result<(), S3Problem> {
        match self.inner.client.head_bucket() {
            Ok(()) => Ok(()),
            Err(S3Failure::Transport(e)) => Err(S3Problem::Unreachable(e)),
            Err(S3Failure::Status { code: 404, .. }) => Err(S3Problem::NoBucket),
            Err(S3Failure::Status {
                code: 401 | 403,
                s3_code,
            }) => Err(S3Problem::Credentials(if s3_code.is_empty() {
                "access denied".to_owned()
            } else {
                s3_code
            })),
            Err(S3Failure::Status { code, s3_code }) => {
                Err(S3Problem::Other(format!("{code} {s3_code}")))
            }
        }
    }

    /// Multipart uploads begun and neither completed nor aborted.
    pub fn unfinished_uploads(&self) -> Result<usize, StorageError> {
        self.inner.unfinished_uploads().map(|u| u.len())
    }

    /// The length of the object of `key`, or `None` when there is none.
    pub fn object_len(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let object = self.inner.object_of(key)?;
        match self.inner.client.head(&object) {
            Ok(Some(len)) => Ok(Some(len)),
            Ok(None) => Err(StorageError::Unavailable(format!(
                "the object store sent no length for {key}"
            ))),
            Err(S3Failure::Status { code: 404, .. }) => Ok(None),
            Err(e) => Err(e.into_storage(key)),
        }
    }

    /// What resumable uploads in progress hold in the bucket: unfinished multipart uploads
    /// and tail objects.
    pub fn resumable_leftovers(&self) -> Result<usize, StorageError> {
        self.inner.resumable_leftovers()
    }

    /// Stores `data` under the key of its SHA-256 (moving content in from a local store).
    pub fn put_by_digest(&self, sha256: &str, data: &[u8]) -> Result<(), StorageError> {
        let object = self.inner.object_of(sha256)?;
        self.inner
            .client
            .put_object(&object, data)
            .map_err(|e| e.into_storage(sha256))
    }

    /// Streams a file into the object named by its SHA-256, part by part. The object
    /// appears only once `reader` reached its end without error: a read error (a reader
    /// that finds the content wrong at its end, say) aborts the upload.
    pub fn put_by_digest_from(
        &self,
        sha256: &str,
        mut reader: impl std::io::Read,
    ) -> Result<u64, StorageError> {
        let object = self.inner.object_of(sha256)?;
        let mut pending = S3Pending::new(self.inner.clone(), object);
        let mut buf = vec![0u8; 256 << 10];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            pending.write_all(&buf[..n])?;
        }
        let len = pending.len;
        pending.finish()?;
        Ok(len)
    }
}

impl Inner {
    /// The object name of a key; refuses anything this store did not hand out.
    fn object_of(&self, key: &str) -> Result<String, StorageError> {
        if Digests::is_sha256_hex(key) {
            return Ok(format!("{}{SHA256_DIR}{key}", self.prefix));
        }
        let id = key
            .strip_prefix(UPLOAD_DIR)
            .or_else(|| key.strip_prefix(resumable::RESUMABLE_DIR));
        match id {
            Some(id) if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(format!("{}{key}", self.prefix))
            }
            _ => Err(StorageError::InvalidKey),
        }
    }

    /// Unfinished multipart uploads of this store's objects: uploads (`upload/`) and
    /// content copied in by digest (`sha256/`, left by an interrupted move). Resumable
    /// uploads (`resumable/`) are not among them: they stay unfinished on purpose across
    /// requests, and their rows decide when they go.
    fn unfinished_uploads(&self) -> Result<Vec<client::UnfinishedUpload>, StorageError> {
        let resumable = format!("{}{}", self.prefix, resumable::RESUMABLE_DIR);
        let uploads = self
            .client
            .unfinished_uploads(&self.prefix)
            .map_err(|e| e.into_storage("multipart uploads"))?;
        Ok(uploads
            .into_iter()
            .filter(|u| self.key_of(&u.object).is_some() && !u.object.starts_with(&resumable))
            .collect())
    }

    /// The key of an object name, if it is one of this store's.
    fn key_of(&self, object: &str) -> Option<String> {
        let rest = object.strip_prefix(&self.prefix)?;
        if let Some(hex) = rest.strip_prefix(SHA256_DIR) {
            return Digests::is_sha256_hex(hex).then(|| hex.to_owned());
        }
        self.object_of(rest)
            .ok()
            .filter(|_| rest.starts_with(UPLOAD_DIR) || rest.starts_with(resumable::RESUMABLE_DIR))
            .map(|_| rest.to_owned())
    }
}

impl BlobStore for S3BlobStore {
    fn begin(&self) -> Result<Box<dyn PendingBlob>, StorageError> {
        let key = format!("{UPLOAD_DIR}{}", hex::encode(upload_id()?));
        let object = self.inner.object_of(&key)?;
        Ok(Box::new(S3Pending::new(self.inner.clone(), object)))
    }

    fn persist(
        &self,
        pending: Box<dyn PendingBlob>,
        _sha256: &str,
    ) -> Result<Box<dyn StoredBlob>, StorageError> {
        let pending = pending.into_any().downcast::<S3Pending>().map_err(|_| {
            StorageError::Io(std::io::Error::other(
                "pending blob was not begun by an S3 store",
            ))
        })?;
        let object = pending.object.clone();
        pending.finish()?;
        let key = object
            .strip_prefix(&self.inner.prefix)
            .unwrap_or(&object)
            .to_owned();
        Ok(Box::new(S3Stored {
            inner: self.inner.clone(),
            object,
            key,
        }))
    }

    fn open(&self, key: &str, range: Option<Range<u64>>) -> Result<BlobReader, StorageError> {
        let object = self.inner.object_of(key)?;
        let (reader, len) = download::open(&self.inner, key, &object, range)?;
        Ok(BlobReader::Stream(reader, len))
    }

    fn direct_url(
        &self,
        key: &str,
        download: &DirectDownload<'_>,
    ) -> Result<Option<String>, StorageError> {
        let object = self.inner.object_of(key)?;
        let url = self.inner.client.presign_get(
            &object,
            download.content_disposition,
            download.content_type,
            download.ttl,
        );
        Ok(Some(url.to_string()))
    }

    fn contains(&self, key: &str) -> Result<bool, StorageError> {
        let object = self.inner.object_of(key)?;
        match self.inner.client.head(&object) {
            Ok(_) => Ok(true),
            Err(S3Failure::Status { code: 404, .. }) => Ok(false),
            Err(e) => Err(e.into_storage(key)),
        }
    }

    /// Keys are never reused by later uploads (each gets a new one; content named by its
    /// digest is only ever written by a move from a local store), so once no row refers to
    /// a key none will: asking before the delete suffices.
    fn remove(
        &self,
        key: &str,
        still_referenced: &mut dyn FnMut() -> Result<bool, StorageError>,
    ) -> Result<bool, StorageError> {
        let object = self.inner.object_of(key)?;
        if still_referenced()? {
            return Ok(false);
        }
        if !self.contains(key)? {
            return Ok(false);
        }
        self.inner
            .client
            .delete(&object)
            .map_err(|e| e.into_storage(key))?;
        Ok(true)
    }

    fn list(&self, after: Option<&str>, limit: usize) -> Result<KeyPage, StorageError> {
        let start_after = after.map(|a| format!("{}{a}", self.inner.prefix));
        let (objects, more) = self
            .inner
            .client
            .list(
                &self.inner.prefix,
                start_after.as_deref(),
                limit.clamp(1, 1000),
            )
            .map_err(|e| e.into_storage("listing"))?;
        let next = objects
            .last()
            .and_then(|o| o.object.strip_prefix(&self.inner.prefix))
            .map(str::to_owned)
            .filter(|_| more);
        let keys = objects
            .into_iter()
            .filter_map(|o| {
                self.inner.key_of(&o.object).map(|key| ListedKey {
                    key,
                    modified: o.modified,
                })
            })
            .collect();
        Ok(KeyPage { keys, next })
    }

    fn remove_stale_uploads(&self, cutoff: SystemTime) -> Result<usize, StorageError> {
        let uploads = self.inner.unfinished_uploads()?;
        let mut removed = 0;
        for upload in uploads {
            let orphaned = upload
                .object
                .strip_prefix(&self.inner.prefix)
                .and_then(|rest| rest.strip_prefix(UPLOAD_DIR))
                .is_some_and(left_by_dead_process);
            if orphaned || upload.initiated.is_some_and(|t| t < cutoff) {
                self.inner
                    .client
                    .abort_multipart(&upload.object, &upload.upload_id)
                    .map_err(|e| e.into_storage(&upload.object))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn resumable_create(&self, id: &str) -> Result<String, StorageError> {
        self.inner.resumable_create(id)
    }

    fn resumable_append(
        &self,
        id: &str,
        state: &str,
        offset: u64,
    ) -> Result<Box<dyn ResumableAppend>, StorageError> {
        self.inner.resumable_append(id, state, offset)
    }

    fn resumable_finish(
        &self,
        id: &str,
        state: &str,
        len: u64,
        digest: DigestPass<'_>,
    ) -> Result<Box<dyn StoredBlob>, StorageError> {
        self.inner.resumable_finish(id, state, len, digest)
    }

    fn resumable_abort(&self, id: &str, state: &str) -> Result<(), StorageError> {
        self.inner.resumable_abort(id, state)
    }

    fn check(&self) -> Result<(), StorageError> {
        self.probe()
            .map_err(|e| StorageError::Unavailable(e.to_string()))
    }
}

/// The 16 bytes of a new upload's name: who writes it ([`writers::writer_hash`]), the
/// process id, and 8 random bytes. The writer lets a later sweep abort the multipart uploads
/// of a process that died at once; the name stays 32 hex digits, as recorded keys have.
fn upload_id() -> Result<[u8; 16], StorageError> {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&writers::writer_hash());
    id[4..8].copy_from_slice(&std::process::id().to_be_bytes());
    getrandom::fill(&mut id[8..])
        .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))?;
    Ok(id)
}

/// True for an upload (`<32 hex>`, see [`upload_id`]) begun by a process of this machine and
/// namespace that no longer runs.
fn left_by_dead_process(name: &str) -> bool {
    let Ok(id) = hex::decode(name) else {
        return false;
    };
    if id.len() != 16 {
        return false;
    }
    let pid = u32::from_be_bytes([id[4], id[5], id[6], id[7]]);
    writers::is_dead(id[..4] == writers::writer_hash(), pid)
}

/// An upload being written. Dropped before [`S3Pending::finish`], it aborts its multipart
/// upload so that no parts stay behind.
struct S3Pending {
    inner: Arc<Inner>,
    object: String,
    buf: Vec<u8>,
    parts_sent: usize,
    sender: Option<PartSender>,
    /// The upload's part buffers in the process-wide budget, until the sender takes them.
    claim: Option<Claim>,
    len: u64,
    /// The first failure; later writes repeat it.
    failed: bool,
}

impl S3Pending {
    fn new(inner: Arc<Inner>, object: String) -> Self {
        S3Pending {
            inner,
            object,
            buf: Vec::new(),
            parts_sent: 0,
            sender: None,
            claim: Some(Claim::new()),
            len: 0,
            failed: false,
        }
    }

    fn send_part(&mut self) -> Result<(), StorageError> {
        if self.parts_sent + 1 >= MAX_PARTS {
            return Err(StorageError::TooLarge);
        }
        if self.sender.is_none() {
            let upload_id = self
                .inner
                .client
                .create_multipart(&self.object)
                .map_err(|e| e.into_storage(&self.object))?;
            self.sender = Some(PartSender::start(
                self.inner.clone(),
                self.object.clone(),
                upload_id,
                self.claim.take().unwrap_or_else(Claim::new),
            ));
        }
        let data = std::mem::take(&mut self.buf);
        self.parts_sent += 1;
        let number = self.parts_sent as u16;
        let Some(sender) = &mut self.sender else {
            unreachable!("the sender was started above")
        };
        sender.send(Part { number, data })?;
        // A buffer is allocated only while none comes back: an upload holds one per
        // sender thread plus the one filling.
        self.buf = sender
            .spare_buffer()
            .unwrap_or_else(|| Vec::with_capacity(PART_SIZE));
        Ok(())
    }

    /// Sends what is left and completes the object.
    fn finish(mut self) -> Result<(), StorageError> {
        if self.failed {
            return Err(StorageError::Io(std::io::Error::other(
                "upload failed earlier",
            )));
        }
        let Some(mut sender) = self.sender.take() else {
            // Smaller than a part: one PUT.
            let data = std::mem::take(&mut self.buf);
            return self
                .inner
                .client
                .put_object(&self.object, &data)
                .map_err(|e| e.into_storage(&self.object));
        };
        let result = (|| {
            if !self.buf.is_empty() {
                let data = std::mem::take(&mut self.buf);
                self.parts_sent += 1;
                sender.send(Part {
                    number: self.parts_sent as u16,
                    data,
                })?;
            }
            let etags = sender.join()?;
            self.inner
                .client
                .complete_multipart(&self.object, &sender.upload_id, &etags)
                .map_err(|e| e.into_storage(&self.object))
        })();
        if result.is_err() {
            // Put back so that drop aborts the upload.
            self.sender = Some(sender);
        }
        result
    }
}

impl PendingBlob for S3Pending {
    fn write_all(&mut self, mut data: &[u8]) -> Result<(), StorageError> {
        if self.failed {
            return Err(StorageError::Io(std::io::Error::other(
                "upload failed earlier",
            )));
        }
        self.len += data.len() as u64;
        while !data.is_empty() {
            let room = PART_SIZE - self.buf.len();
            let take = room.min(data.len());
            if self.buf.capacity() < self.buf.len() + take {
                // Grow in steps up to one part, never past it.
                let want = (self.buf.len() + take)
                    .max(self.buf.capacity() * 2)
                    .clamp(64 << 10, PART_SIZE);
                self.buf.reserve_exact(want - self.buf.len());
            }
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == PART_SIZE {
                if let Err(e) = self.send_part() {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

impl Drop for S3Pending {
    fn drop(&mut self) {
        if let Some(mut sender) = self.sender.take() {
            // Let the threads end (parts in flight finish or fail) before aborting.
            let _ = sender.join();
            if let Err(e) = self
                .inner
                .client
                .abort_multipart(&self.object, &sender.upload_id)
            {
                log::warn!(
                    "could not abort the multipart upload of {}: {:?}; the sweep retries",
                    self.object,
                    e
                );
            }
        }
    }
}

/// Content completed under its key, waiting for the commit.
struct S3Stored {
    inner: Arc<Inner>,
    object: String,
    key: String,
}

impl StoredBlob for S3Stored {
    fn key(&self) -> &str {
        &self.key
    }

    fn was_present(&self) -> bool {
        false
    }

    fn confirm(self: Box<Self>, used: bool) -> Result<(), StorageError> {
        if !used {
            // The row reuses content stored earlier; this copy is not needed. Failing to
            // delete it only leaves an orphan for the sweep.
            if let Err(e) = self.inner.client.delete(&self.object) {
                log::warn!("could not remove duplicate content {}: {e:?}", self.object);
            }
        }
        Ok(())
    }
}

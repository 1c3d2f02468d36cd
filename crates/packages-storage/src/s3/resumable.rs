//! Resumable uploads in a bucket.
//!
//! Each upload is a multipart upload of the object `<prefix>resumable/<id>`, begun when the
//! upload is created. S3 takes parts of at least 5 MiB (except the last), while a client may
//! append any number of bytes at a time, so an append sends every full part ([`PART_SIZE`])
//! as it fills and keeps the rest as a small tail object,
//! `<prefix>resumable-tail/<id>/<random>`, which the next append reads back and continues.
//! The recorded state names the multipart upload, the current tail and the ETags of the
//! parts sent: every part but the tail holds exactly `PART_SIZE` bytes, so the offset tells
//! the tail's length. A tail gets a new name each time, so an append that is discarded
//! (a checksum mismatch, a lost lease) never touches the recorded one; older tails are
//! deleted by the next append. Memory per append is one part.

use std::io::Read;
use std::sync::Arc;

use packages_core::{DigestPass, ResumableAppend, StorageError, StoredBlob};

use super::{Inner, S3Stored, PART_SIZE};

pub(super) const RESUMABLE_DIR: &str = "resumable/";
const TAIL_DIR: &str = "resumable-tail/";
/// S3's limit on the number of parts.
const MAX_PARTS: usize = 10_000;

/// What the database records for an upload in a bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct State {
    upload_id: String,
    /// The random part of the current tail object's name; empty when there is none.
    tail: String,
    etags: Vec<String>,
}

impl State {
    /// One line each: the upload id, the tail, then one ETag per part.
    fn encode(&self) -> String {
        let mut out = format!("{}\n{}", self.upload_id, self.tail);
        for etag in &self.etags {
            out.push('\n');
            out.push_str(etag);
        }
        out
    }

    fn decode(text: &str) -> Result<State, StorageError> {
        let mut lines = text.split('\n');
        let (Some(upload_id), Some(tail)) = (lines.next(), lines.next()) else {
            return Err(corrupt());
        };
        if upload_id.is_empty() || !(tail.is_empty() || is_hex(tail)) {
            return Err(corrupt());
        }
        Ok(State {
            upload_id: upload_id.to_owned(),
            tail: tail.to_owned(),
            etags: lines.map(str::to_owned).collect(),
        })
    }
}

fn corrupt() -> StorageError {
    StorageError::Io(std::io::Error::other(
        "the recorded state of a resumable upload is unreadable",
    ))
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_id(id: &str) -> Result<(), StorageError> {
    if packages_core::blob_store::is_resumable_id(id) {
        Ok(())
    } else {
        Err(StorageError::InvalidKey)
    }
}

impl Inner {
    fn resumable_object(&self, id: &str) -> String {
        format!("{}{RESUMABLE_DIR}{id}", self.prefix)
    }

    fn tail_prefix(&self, id: &str) -> String {
        format!("{}{TAIL_DIR}{id}/", self.prefix)
    }

    /// Reads the recorded tail into `buf`.
    fn read_tail(&self, id: &str, state: &State, buf: &mut Vec<u8>) -> Result<(), StorageError> {
        if state.tail.is_empty() {
            return Ok(());
        }
        let object = format!("{}{}", self.tail_prefix(id), state.tail);
        let answer = self
            .client
            .get(&object, None, None)
            .map_err(|e| e.into_storage(&object))?;
        if answer.len > PART_SIZE as u64 {
            return Err(corrupt());
        }
        answer.body.take(answer.len).read_to_end(buf)?;
        Ok(())
    }

    /// Deletes the tail objects of upload `id` other than `keep`.
    fn delete_tails(&self, id: &str, keep: &str) -> Result<(), StorageError> {
        let prefix = self.tail_prefix(id);
        let mut after: Option<String> = None;
        loop {
            let (objects, more) = self
                .client
                .list(&prefix, after.as_deref(), 1000)
                .map_err(|e| e.into_storage("tail listing"))?;
            for o in &objects {
                if o.object.strip_prefix(&prefix) != Some(keep) {
                    self.client
                        .delete(&o.object)
                        .map_err(|e| e.into_storage(&o.object))?;
                }
            }
            match (more, objects.last()) {
                (true, Some(last)) => after = Some(last.object.clone()),
                _ => return Ok(()),
            }
        }
    }

    pub(super) fn resumable_leftovers(&self) -> Result<usize, StorageError> {
        let uploads = self
            .client
            .unfinished_uploads(&format!("{}{RESUMABLE_DIR}", self.prefix))
            .map_err(|e| e.into_storage("multipart uploads"))?;
        let (tails, _) = self
            .client
            .list(&format!("{}{TAIL_DIR}", self.prefix), None, 1000)
            .map_err(|e| e.into_storage("tail listing"))?;
        Ok(uploads.len() + tails.len())
    }

    pub(super) fn resumable_create(&self, id: &str) -> Result<String, StorageError> {
        check_id(id)?;
        let object = self.resumable_object(id);
        let upload_id = self
            .client
            .create_multipart(&object)
            .map_err(|e| e.into_storage(&object))?;
        Ok(State {
            upload_id,
            ..State::default()
        }
        .encode())
    }

    pub(super) fn resumable_append(
        self: &Arc<Self>,
        id: &str,
        state: &str,
        offset: u64,
    ) -> Result<Box<dyn ResumableAppend>, StorageError> {
        check_id(id)?;
        let state = State::decode(state)?;
        // Tails of appends that were cut off or discarded are garbage now.
        self.delete_tails(id, &state.tail)?;
        let mut buf = Vec::with_capacity(PART_SIZE);
        self.read_tail(id, &state, &mut buf)?;
        if state.etags.len() as u64 * PART_SIZE as u64 + buf.len() as u64 != offset {
            return Err(StorageError::Io(std::io::Error::other(
                "the stored parts of a resumable upload do not add up to its offset",
            )));
        }
        Ok(Box::new(S3Append {
            inner: self.clone(),
            id: id.to_owned(),
            object: self.resumable_object(id),
            state,
            buf,
        }))
    }

    pub(super) fn resumable_finish(
        self: &Arc<Self>,
        id: &str,
        state: &str,
        len: u64,
        digest: DigestPass<'_>,
    ) -> Result<Box<dyn StoredBlob>, StorageError> {
        check_id(id)?;
        let mut state = State::decode(state)?;
        let object = self.resumable_object(id);
        let mut tail = Vec::new();
        self.read_tail(id, &state, &mut tail)?;
        if state.etags.len() as u64 * PART_SIZE as u64 + tail.len() as u64 != len {
            return Err(StorageError::Io(std::io::Error::other(
                "the stored parts of a resumable upload do not add up to its length",
            )));
        }
        if len == 0 {
            // A multipart upload needs a part; empty content is one PUT.
            self.client
                .put_object(&object, &[])
                .map_err(|e| e.into_storage(&object))?;
            let _ = self.client.abort_multipart(&object, &state.upload_id);
        } else {
            if !tail.is_empty() {
                let number = state.etags.len() as u16 + 1;
                let etag = self
                    .client
                    .upload_part(&object, &state.upload_id, number, &tail)
                    .map_err(|e| e.into_storage(&object))?;
                state.etags.push(etag);
            }
            drop(tail);
            self.client
                .complete_multipart(&object, &state.upload_id, &state.etags)
                .map_err(|e| e.into_storage(&object))?;
        }
        let stored = S3Stored {
            inner: self.clone(),
            object: object.clone(),
            key: format!("{RESUMABLE_DIR}{id}"),
        };
        let read_back = (|| {
            let mut answer = self
                .client
                .get(&object, None, None)
                .map_err(|e| e.into_storage(&object))?;
            digest(&mut answer.body)
        })();
        if let Err(e) = read_back {
            if let Err(d) = self.client.delete(&object) {
                log::warn!("could not remove {object} after a failed completion: {d:?}");
            }
            return Err(e);
        }
        if let Err(e) = self.delete_tails(id, "") {
            log::warn!("could not remove the tails of a completed upload: {e}");
        }
        Ok(Box::new(stored))
    }

    pub(super) fn resumable_abort(&self, id: &str, state: &str) -> Result<(), StorageError> {
        check_id(id)?;
        let object = self.resumable_object(id);
        if let Ok(state) = State::decode(state) {
            self.client
                .abort_multipart(&object, &state.upload_id)
                .map_err(|e| e.into_storage(&object))?;
        }
        self.delete_tails(id, "")
    }
}

/// An append to a resumable upload in a bucket.
struct S3Append {
    inner: Arc<Inner>,
    id: String,
    object: String,
    state: State,
    /// The tail: bytes after the last full part, at most one part.
    buf: Vec<u8>,
}

impl S3Append {
    fn send_part(&mut self) -> Result<(), StorageError> {
        if self.state.etags.len() + 1 >= MAX_PARTS {
            return Err(StorageError::TooLarge);
        }
        let number = self.state.etags.len() as u16 + 1;
        let etag = self
            .inner
            .client
            .upload_part(&self.object, &self.state.upload_id, number, &self.buf)
            .map_err(|e| e.into_storage(&self.object))?;
        self.state.etags.push(etag);
        self.buf.clear();
        Ok(())
    }
}

impl ResumableAppend for S3Append {
    fn write_all(&mut self, mut data: &[u8]) -> Result<(), StorageError> {
        while !data.is_empty() {
            let take = (PART_SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == PART_SIZE {
                self.send_part()?;
            }
        }
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(u64, String), StorageError> {
        self.state.tail = if self.buf.is_empty() {
            String::new()
        } else {
            let mut name = [0u8; 8];
            getrandom::fill(&mut name)
                .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))?;
            let name = hex::encode(name);
            let object = format!("{}{name}", self.inner.tail_prefix(&self.id));
            self.inner
                .client
                .put_object(&object, &self.buf)
                .map_err(|e| e.into_storage(&object))?;
            name
        };
        let offset = self.state.etags.len() as u64 * PART_SIZE as u64 + self.buf.len() as u64;
        Ok((offset, self.state.encode()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips() {
        let state = State {
            upload_id: "abc.DEF-1".into(),
            tail: "0123abcd".into(),
            etags: vec!["\"e1\"".into(), "\"e2\"".into()],
        };
        assert_eq!(State::decode(&state.encode()).unwrap(), state);
        let empty = State {
            upload_id: "x".into(),
            ..State::default()
        };
        assert_eq!(State::decode(&empty.encode()).unwrap(), empty);
        assert!(State::decode("").is_err());
        assert!(State::decode("id\n../x").is_err());
    }
}

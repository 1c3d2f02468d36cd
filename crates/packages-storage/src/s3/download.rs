//! Reading an object: one GET for a read of up to a part, parts fetched ahead
//! ([`read_ahead`]) for a larger one.
//!
//! Every part after the first is sent with `If-Match` on the first answer's ETag and must
//! report the same object length, so a read never mixes two versions of an object (keys are
//! not rewritten today; this keeps it so should that change). Every answer is checked to be
//! exactly the bytes asked for: a short object fails the read instead of ending it early.

use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;

use packages_core::StorageError;

use super::client::{GetAnswer, S3Failure};
use super::read_ahead::{self, PartSource, ReadAhead, Reservation, Shape};
use super::Inner;

/// Opens `range` of `object` (all of it when `None`); `key` names it in errors. Returns the
/// reader and its length.
pub(super) fn open(
    inner: &Arc<Inner>,
    key: &str,
    object: &str,
    range: Option<Range<u64>>,
) -> Result<(Box<dyn Read + Send>, u64), StorageError> {
    let shape = read_ahead::SHAPE;
    if range
        .as_ref()
        .is_some_and(|r| r.end.saturating_sub(r.start) <= shape.part_size)
    {
        return single(inner, key, object, range);
    }
    let Some((reservation, parallel)) = Reservation::take(shape) else {
        return single(inner, key, object, range);
    };
    // The first part is fetched here, so that a missing object fails the open. Asked for
    // the whole object, its answer also says how long the object is; most objects are
    // small then, so that GET keeps to the client's pooled connections.
    let start = range.as_ref().map_or(0, |r| r.start);
    let first = start..start.saturating_add(shape.part_size);
    let answer = match range {
        Some(_) => inner.client.get_large(object, first.clone(), None),
        None => inner.client.get(object, Some(first.clone()), None),
    };
    let answer = match answer {
        Ok(answer) => answer,
        // An empty object has no first byte to ask for.
        Err(S3Failure::Status { code: 416, .. }) if range.is_none() => {
            return single(inner, key, object, None)
        }
        Err(e) => return Err(e.into_storage(key)),
    };
    let total = answer.content_range.and_then(|c| c.total);
    let whole = match (range, answer.content_range, total) {
        (Some(r), _, _) => r,
        // The store ignored the range and sent the whole object.
        (None, None, _) => return Ok((answer.body, answer.len)),
        (None, Some(_), Some(total)) => 0..total,
        (None, Some(_), None) => {
            return Err(
                S3Failure::Transport("a ranged GET did not say the object's length".into())
                    .into_storage(key),
            )
        }
    };
    if whole.end - whole.start <= shape.part_size {
        // A small object asked for whole: this answer holds all of it.
        check(&answer, &whole).map_err(|e| e.into_storage(key))?;
        return Ok((answer.body, answer.len));
    }
    check(&answer, &first).map_err(|e| e.into_storage(key))?;
    if let Some(total) = total.filter(|&t| t < whole.end) {
        return Err(S3Failure::Transport(format!(
            "asked for bytes up to {}, the object has {total}",
            whole.end
        ))
        .into_storage(key));
    }
    let parts = ObjectParts {
        inner: inner.clone(),
        object: object.to_owned(),
        key: key.to_owned(),
        etag: answer.etag.clone(),
        total,
    };
    let len = whole.end - whole.start;
    let shape = Shape { parallel, ..shape };
    let reader = ReadAhead::start(
        Arc::new(parts),
        whole,
        answer.body,
        shape,
        Some(reservation),
    )?;
    Ok((Box::new(reader), len))
}

/// One GET of `range` (all when `None`).
fn single(
    inner: &Inner,
    key: &str,
    object: &str,
    range: Option<Range<u64>>,
) -> Result<(Box<dyn Read + Send>, u64), StorageError> {
    if range.as_ref().is_some_and(Range::is_empty) {
        return Ok((Box::new(io::empty()), 0));
    }
    let answer = inner
        .client
        .get(object, range.clone(), None)
        .map_err(|e| e.into_storage(key))?;
    if let Some(r) = &range {
        check(&answer, r).map_err(|e| e.into_storage(key))?;
    }
    Ok((answer.body, answer.len))
}

/// An answer must carry exactly the bytes asked for.
fn check(answer: &GetAnswer, asked: &Range<u64>) -> Result<(), S3Failure> {
    let want = asked.end - asked.start;
    if answer.len != want {
        return Err(S3Failure::Transport(format!(
            "asked for {want} bytes at {}, the object store sends {}",
            asked.start, answer.len
        )));
    }
    let placed = match answer.content_range {
        Some(c) => c.first == asked.start && c.last + 1 == asked.end,
        // A whole object is the range only when the range starts at 0.
        None => asked.start == 0,
    };
    if !placed {
        return Err(S3Failure::Transport(format!(
            "asked for bytes {}-{}, the object store sends {:?}",
            asked.start,
            asked.end - 1,
            answer.content_range
        )));
    }
    Ok(())
}

/// The parts of one object after the first.
struct ObjectParts {
    inner: Arc<Inner>,
    object: String,
    key: String,
    /// ETag of the first answer.
    etag: Option<String>,
    /// Object length the first answer reported.
    total: Option<u64>,
}

impl ObjectParts {
    fn changed(&self) -> io::Error {
        io::Error::other(StorageError::Unavailable(format!(
            "object {} changed while it was read",
            self.key
        )))
    }
}

impl PartSource for ObjectParts {
    fn fetch(&self, range: Range<u64>) -> io::Result<Box<dyn Read + Send>> {
        let answer =
            match self
                .inner
                .client
                .get_large(&self.object, range.clone(), self.etag.as_deref())
            {
                Ok(answer) => answer,
                Err(S3Failure::Status { code: 412, .. }) => return Err(self.changed()),
                Err(e) => return Err(io::Error::other(e.into_storage(&self.key))),
            };
        if answer.content_range.and_then(|c| c.total) != self.total {
            return Err(self.changed());
        }
        check(&answer, &range).map_err(|e| io::Error::other(e.into_storage(&self.key)))?;
        Ok(answer.body)
    }
}

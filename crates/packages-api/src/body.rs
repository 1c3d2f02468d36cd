//! The body of a registry request as every format receives it. The dispatcher wraps the
//! raw payload once, so no format can forget what protects the server from slow clients:
//! a body that stops delivering [`crate::idle::MIN_PROGRESS`] bytes in an idle window ends
//! in [`ApiError::BodyTimeout`] (408).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::error::PayloadError;
use actix_web::web::{self, Bytes};
use futures_util::{Stream, StreamExt};

use crate::error::{ApiError, ApiResult};

/// A request body with the server's idle timeout applied.
pub struct RequestBody {
    inner: Pin<Box<dyn Stream<Item = ApiResult<Bytes>>>>,
    idle: Duration,
}

impl RequestBody {
    /// Wraps the raw payload; `idle` is the server's idle timeout (zero: none).
    pub fn new(payload: web::Payload, idle: Duration) -> Self {
        let body =
            crate::idle::body_with_timeout(payload.map(|c| c.map_err(|e| e.to_string())), idle);
        RequestBody {
            // Fused: parsers (multipart) may ask again after the end.
            inner: Box::pin(body.fuse()),
            idle,
        }
    }

    /// The body as actix's payload stream, for parsers that take one (multipart forms). A
    /// stalled body ends in an I/O error that [`RequestBody::timeout_of`] recognises.
    pub fn into_payload_stream(self) -> impl Stream<Item = Result<Bytes, PayloadError>> + 'static {
        self.inner.map(|chunk| {
            chunk.map_err(|e| match e {
                ApiError::BodyTimeout(_) => {
                    PayloadError::Io(io::Error::new(io::ErrorKind::TimedOut, TIMED_OUT))
                }
                other => PayloadError::Io(io::Error::other(other.to_string())),
            })
        })
    }

    /// The idle timeout of this body.
    pub fn idle_timeout(&self) -> Duration {
        self.idle
    }
}

const TIMED_OUT: &str = "request body timed out";

/// For a parser's error that came from [`RequestBody::into_payload_stream`]: the 408 it
/// stands for when the body stalled.
pub fn timeout_of(error: &PayloadError, idle: Duration) -> Option<ApiError> {
    match error {
        PayloadError::Io(e) if e.kind() == io::ErrorKind::TimedOut => {
            Some(ApiError::BodyTimeout(idle))
        }
        _ => None,
    }
}

impl Stream for RequestBody {
    type Item = ApiResult<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

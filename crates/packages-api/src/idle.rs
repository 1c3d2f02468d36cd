//! Closing transfers that stopped moving. A client that trickles an upload's body or reads a
//! download a byte at a time holds a connection (and would otherwise hold it forever);
//! after `Settings::idle_timeout` without progress the upload is answered 408 and the
//! download's connection is shut down.
//!
//! An upload's body is read by the handler, so a timeout around each read suffices. A
//! stalled download is different: the server stops polling the response body while the
//! socket is full, so nothing in the body can notice. [`on_connect`] keeps the socket of
//! each connection where the download can reach it, and [`watch`] shuts it down from a
//! timer when the body has not moved for the idle timeout.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use actix_web::dev::Extensions;
use actix_web::HttpRequest;
use futures_util::{Stream, StreamExt};

use crate::error::{ApiError, ApiResult};

/// The socket of one connection, stored in its connection data.
#[derive(Debug)]
pub struct ConnectionSocket(RawFd);

/// Called for every new connection with its socket.
pub fn on_connect(fd: RawFd, extensions: &mut Extensions) {
    extensions.insert(Arc::new(ConnectionSocket(fd)));
}

/// The socket of the request's connection, when the server recorded it.
pub fn socket_of(req: &HttpRequest) -> Option<Arc<ConnectionSocket>> {
    req.conn_data::<Arc<ConnectionSocket>>().cloned()
}

/// When a transfer last moved.
#[derive(Debug)]
pub struct Progress {
    start: Instant,
    last_ms: AtomicU64,
}

impl Progress {
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    /// Notes that the transfer moved now.
    pub fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// Shuts the connection's socket down once `progress` has not moved for `idle`; stops when
/// the transfer ends (its `Progress` is dropped) or the connection goes. Runs on the
/// connection's own worker thread, so the socket cannot be closed and its descriptor reused
/// between the check and the shutdown.
pub fn watch(socket: &Arc<ConnectionSocket>, progress: &Arc<Progress>, idle: Duration) {
    if idle.is_zero() {
        return;
    }
    let socket: Weak<ConnectionSocket> = Arc::downgrade(socket);
    let progress: Weak<Progress> = Arc::downgrade(progress);
    let tick = (idle / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    actix_web::rt::spawn(async move {
        loop {
            actix_web::rt::time::sleep(tick).await;
            let Some(p) = progress.upgrade() else {
                return;
            };
            if p.idle_for() < idle {
                continue;
            }
            if let Some(socket) = socket.upgrade() {
                log::info!("closing a download that made no progress for {idle:?}");
                // SAFETY: the descriptor belongs to a live connection (its data holds the
                // `ConnectionSocket`), and nothing else runs on this thread meanwhile.
                unsafe {
                    libc::shutdown(socket.0, libc::SHUT_RDWR);
                }
            }
            return;
        }
    });
}

/// Least a body must deliver in every idle window to count as moving; a client trickling a
/// byte a second is as stuck as one that sends nothing.
pub const MIN_PROGRESS: usize = 16 * 1024;

/// A request body that must deliver [`MIN_PROGRESS`] bytes in every `idle` window (zero: no
/// limit); a body that stalls or trickles ends in [`ApiError::BodyTimeout`].
pub fn body_with_timeout<S>(
    body: S,
    idle: Duration,
) -> impl Stream<Item = ApiResult<actix_web::web::Bytes>> + Unpin
where
    S: Stream<Item = Result<actix_web::web::Bytes, String>> + Unpin,
{
    struct Window {
        start: Instant,
        bytes: usize,
    }
    let window = Window {
        start: Instant::now(),
        bytes: 0,
    };
    Box::pin(futures_util::stream::unfold(
        (body, window, false),
        move |(mut body, mut window, done)| async move {
            if done {
                return None;
            }
            let next = loop {
                if idle.is_zero() {
                    break body.next().await;
                }
                let left = idle.saturating_sub(window.start.elapsed());
                match actix_web::rt::time::timeout(left, body.next()).await {
                    Ok(next) => break next,
                    // The window is over: a body that moved enough gets another one.
                    Err(_) if window.bytes >= MIN_PROGRESS => {
                        window = Window {
                            start: Instant::now(),
                            bytes: 0,
                        };
                    }
                    Err(_) => {
                        return Some((Err(ApiError::BodyTimeout(idle)), (body, window, true)));
                    }
                }
            };
            match next? {
                Ok(bytes) => {
                    window.bytes = window.bytes.saturating_add(bytes.len());
                    Some((Ok(bytes), (body, window, false)))
                }
                Err(e) => {
                    log::info!("upload aborted: {e}");
                    Some((Err(ApiError::IncompleteBody), (body, window, true)))
                }
            }
        },
    ))
}

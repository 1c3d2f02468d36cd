//! The threads that send the parts of one multipart upload while the next part fills.
//!
//! One part is always in flight besides the one filling. A single sender leaves the object
//! store idle while it answers a part and the client idle while the filled part waits: on
//! SeaweedFS on two cores about a fifth of the machine stayed idle during a 1 GiB upload.
//! So an upload may send up to [`MAX_SENDERS`] parts at once, but only while all uploads
//! together hold fewer than [`BUFFER_BUDGET`] part buffers: each always has its first two
//! (the part filling and one being sent), so many uploads at once fall back to two each and
//! memory stays what it was with one sender, bounded by the number of uploads, not their size.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

use packages_core::StorageError;

use super::{Inner, PART_SIZE};

/// Parts one upload sends at once, when the budget allows.
const MAX_SENDERS: usize = 3;

/// Part buffers of all uploads together above which no upload takes more than its first two
/// (128 MiB of 8 MiB parts).
const BUFFER_BUDGET: usize = 16;

/// Part buffers each upload holds whatever the budget says.
const BASE_BUFFERS: usize = 2;

/// Part buffers held now, all uploads together.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// A part on its way to a sender thread.
pub(super) struct Part {
    pub number: u16,
    pub data: Vec<u8>,
}

type Sent = Result<Vec<(u16, String)>, StorageError>;

/// The receiving end of the parts, shared by the sender threads. Only they hold it: when
/// the last one stops, a send waiting for a thread fails instead of waiting forever.
struct Parts(Mutex<Receiver<Part>>);

pub(super) struct PartSender {
    pub upload_id: String,
    inner: Arc<Inner>,
    object: String,
    tx: Option<SyncSender<Part>>,
    /// The receiving end until the first thread takes it; the threads' after.
    unclaimed: Option<Arc<Parts>>,
    claimed: Weak<Parts>,
    /// Set by the first thread that fails; the others stop after their part.
    failed: Arc<AtomicBool>,
    /// Buffers of sent parts, handed back to fill the next ones: a fresh 8 MiB buffer per
    /// part, freed on a sender thread, left the allocator holding far more memory than the
    /// parts in use.
    spare_tx: SyncSender<Vec<u8>>,
    spare: Receiver<Vec<u8>>,
    threads: Vec<JoinHandle<Sent>>,
    /// This upload's buffers in the budget.
    claim: Claim,
}

/// An upload's part buffers counted in a process-wide budget until it is dropped: its first
/// two, and one per sender thread beyond the first.
pub(super) struct Claim {
    counted: usize,
    held: &'static AtomicUsize,
    limit: usize,
}

impl Claim {
    /// The first two buffers of an upload, counted when it begins, so that uploads starting
    /// together count each other before any of them asks for more.
    pub fn new() -> Self {
        Self::in_budget(&HELD, BUFFER_BUDGET)
    }

    fn in_budget(held: &'static AtomicUsize, limit: usize) -> Self {
        held.fetch_add(BASE_BUFFERS, Ordering::AcqRel);
        Claim {
            counted: BASE_BUFFERS,
            held,
            limit,
        }
    }

    /// One more buffer, if the budget has room.
    fn more(&mut self) -> bool {
        let limit = self.limit;
        let taken = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < limit).then_some(held + 1)
            })
            .is_ok();
        if taken {
            self.counted += 1;
        }
        taken
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.held.fetch_sub(self.counted, Ordering::AcqRel);
    }
}

impl PartSender {
    pub fn start(inner: Arc<Inner>, object: String, upload_id: String, claim: Claim) -> Self {
        // A rendezvous channel: a part is handed over only to a thread that is free to send
        // it, so no filled part waits in between.
        let (tx, rx) = sync_channel(0);
        let (spare_tx, spare) = sync_channel(MAX_SENDERS);
        let parts = Arc::new(Parts(Mutex::new(rx)));
        PartSender {
            upload_id,
            inner,
            object,
            tx: Some(tx),
            claimed: Arc::downgrade(&parts),
            unclaimed: Some(parts),
            failed: Arc::new(AtomicBool::new(false)),
            spare_tx,
            spare,
            threads: Vec::new(),
            claim,
        }
    }

    /// A buffer of a part already sent, when one is back.
    pub fn spare_buffer(&self) -> Option<Vec<u8>> {
        self.spare.try_recv().ok()
    }

    /// Hands a part to a free thread: starts another one when all are busy and the budget
    /// allows, or else waits for one to finish its part.
    pub fn send(&mut self, part: Part) -> Result<(), StorageError> {
        if self.failed.load(Ordering::Acquire) {
            return Err(self.stopped());
        }
        let part = match self.tx.as_ref().map(|tx| tx.try_send(part)) {
            Some(Ok(())) => return Ok(()),
            Some(Err(TrySendError::Full(part))) => part,
            Some(Err(TrySendError::Disconnected(_))) | None => return Err(self.stopped()),
        };
        if self.threads.is_empty() || self.take_extra() {
            self.spawn()?;
        }
        match self.tx.as_ref().map(|tx| tx.send(part)) {
            Some(Ok(())) => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    /// One more thread from the budget, if it has room.
    fn take_extra(&mut self) -> bool {
        self.threads.len() < MAX_SENDERS && self.claim.more()
    }

    fn spawn(&mut self) -> Result<(), StorageError> {
        let Some(parts) = self.unclaimed.take().or_else(|| self.claimed.upgrade()) else {
            return Err(self.stopped());
        };
        let failed = self.failed.clone();
        let spare = self.spare_tx.clone();
        let inner = self.inner.clone();
        let object = self.object.clone();
        let id = self.upload_id.clone();
        let thread = std::thread::Builder::new()
            .name("s3-parts".into())
            .spawn(move || {
                let sent = send_parts(&inner, &object, &id, &parts, &failed, &spare);
                if sent.is_err() {
                    failed.store(true, Ordering::Release);
                }
                sent
            })?;
        self.threads.push(thread);
        Ok(())
    }

    /// The error that stopped the threads.
    fn stopped(&mut self) -> StorageError {
        match self.join() {
            Err(e) => e,
            Ok(_) => StorageError::Io(std::io::Error::other("the part senders stopped")),
        }
    }

    /// Waits for every part; returns their ETags in part order.
    pub fn join(&mut self) -> Result<Vec<String>, StorageError> {
        self.tx = None;
        let mut sent = Vec::new();
        let mut failure = None;
        for thread in self.threads.drain(..) {
            match thread.join() {
                Ok(Ok(etags)) => sent.extend(etags),
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(_) => {
                    failure = failure.or(Some(StorageError::Io(std::io::Error::other(
                        "a part sender panicked",
                    ))))
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        sent.sort_unstable_by_key(|(number, _)| *number);
        // Every part handed over was sent by exactly one thread: numbers 1..=n.
        if sent
            .iter()
            .enumerate()
            .any(|(i, (number, _))| usize::from(*number) != i + 1)
        {
            return Err(StorageError::Io(std::io::Error::other(
                "the parts sent are not contiguous",
            )));
        }
        Ok(sent.into_iter().map(|(_, etag)| etag).collect())
    }
}

impl Drop for PartSender {
    fn drop(&mut self) {
        self.tx = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// One thread's loop: sends the parts it receives until the channel closes or another thread
/// failed.
fn send_parts(
    inner: &Inner,
    object: &str,
    upload_id: &str,
    parts: &Parts,
    failed: &AtomicBool,
    spare: &SyncSender<Vec<u8>>,
) -> Sent {
    let mut etags = Vec::new();
    loop {
        // The lock is held while waiting: the thread holding it takes the next part, the
        // others wait their turn behind it.
        let next = match parts.0.lock() {
            Ok(parts) => parts.recv(),
            Err(_) => break,
        };
        let Ok(mut part) = next else { break };
        if failed.load(Ordering::Acquire) {
            break;
        }
        debug_assert!(part.data.len() <= PART_SIZE);
        let etag = inner
            .client
            .upload_part(object, upload_id, part.number, &part.data)
            .map_err(|e| e.into_storage(object))?;
        etags.push((part.number, etag));
        part.data.clear();
        let _ = spare.try_send(part.data);
    }
    Ok(etags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_take_more_buffers_only_while_the_budget_has_room() {
        static HELD: AtomicUsize = AtomicUsize::new(0);
        let mut first = Claim::in_budget(&HELD, 7);
        let mut second = Claim::in_budget(&HELD, 7);
        assert_eq!(HELD.load(Ordering::Acquire), 4);
        assert!(first.more());
        assert!(first.more());
        assert!(second.more());
        assert_eq!(HELD.load(Ordering::Acquire), 7);
        assert!(!second.more(), "past the budget");
        assert!(!first.more(), "past the budget");
        // An upload's first two buffers count even past the budget.
        let third = Claim::in_budget(&HELD, 7);
        assert_eq!(HELD.load(Ordering::Acquire), 9);
        drop(first);
        assert_eq!(HELD.load(Ordering::Acquire), 5);
        assert!(second.more());
        assert!(second.more());
        assert!(!second.more());
        drop((second, third));
        assert_eq!(HELD.load(Ordering::Acquire), 0);
    }
}

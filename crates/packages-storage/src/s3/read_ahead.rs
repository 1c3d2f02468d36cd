//! Read-ahead for large reads: the range is fetched as parts, several at once, and handed to
//! the reader in order.
//!
//! With a single GET the HTTP layer reads one chunk, sends it, then reads the next, so the
//! store's connection waits during every send; and one connection to a remote store is
//! often slower than the store. Workers fetching parts keep the store sending while the
//! reader hands out what has arrived.
//!
//! Memory: part `i` is started only once the reader has finished part `i - parallel`, and a
//! part is filled into pieces recycled from the parts already read, so one read holds at most
//! `parallel × part_size` bytes (the pieces divide the part size). All reads together hold at
//! most [`BUDGET`]: a read that finds too little of it left is served by a single GET.
//!
//! Dropping the reader stops the fetches: each worker checks after every read from its
//! connection and drops it; a worker blocked on a silent connection ends with the read
//! timeout (60 s). The workers are never joined, so a drop does not block the caller (it may
//! be an async executor's thread).

use std::collections::VecDeque;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Fetches the parts of one range.
pub(super) trait PartSource: Send + Sync + 'static {
    /// A reader of the bytes of `range`. The worker checks that exactly that many come.
    fn fetch(&self, range: Range<u64>) -> io::Result<Box<dyn Read + Send>>;
}

/// How a large read is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    /// Bytes per ranged GET; also the size at or below which a read is one GET.
    pub part_size: u64,
    /// Parts fetched or held at once.
    pub parallel: usize,
    /// Unit in which a part is handed over while it arrives; divides `part_size`.
    pub piece: usize,
}

/// 4 × 8 MiB: 32 MiB per read. On S3-P2 (SeaweedFS on loopback, 2 cores) 2 × 16, 3 × 16,
/// 4 × 16 and 2 × 32 MiB did no better within the noise; four connections also help where
/// one connection is slow (a remote store), and 128 requests per GiB cost the store little.
/// Pieces of 1 MiB let the reader start on a part before all of it is in.
pub(super) const SHAPE: Shape = Shape {
    part_size: 8 << 20,
    parallel: 4,
    piece: 1 << 20,
};

/// Bytes all read-aheads of the process may hold together: 8 reads at full parallelism.
/// Slow clients keep their parts buffered for as long as they read, so this is what caps
/// the memory of many large downloads at once.
pub(super) const BUDGET: u64 = 256 << 20;

// What the memory bound above relies on.
const _: () = assert!(
    SHAPE.part_size.is_multiple_of(SHAPE.piece as u64)
        && SHAPE.parallel >= 2
        && BUDGET >= SHAPE.parallel as u64 * SHAPE.part_size
);

static RESERVED: AtomicU64 = AtomicU64::new(0);

/// Number of parts of `len` bytes split at `part_size`.
pub(super) fn part_count(len: u64, part_size: u64) -> u64 {
    len.div_ceil(part_size.max(1))
}

/// Bytes of part `index` of `range`.
pub(super) fn part_range(range: &Range<u64>, part_size: u64, index: u64) -> Range<u64> {
    let start = range
        .start
        .saturating_add(index.saturating_mul(part_size))
        .min(range.end);
    start..start.saturating_add(part_size).min(range.end)
}

/// Room for one read's parts in a process-wide budget, given back on drop.
pub(super) struct Reservation {
    bytes: u64,
    counter: &'static AtomicU64,
}

impl Reservation {
    /// Room for as many parts as `shape` wants, or fewer when the budget runs short; `None`
    /// when not even two are left (one part at a time is no better than a single GET).
    pub(super) fn take(shape: Shape) -> Option<(Reservation, usize)> {
        Self::take_from(shape, BUDGET, &RESERVED)
    }

    fn take_from(
        shape: Shape,
        budget: u64,
        counter: &'static AtomicU64,
    ) -> Option<(Reservation, usize)> {
        let mut parallel = 0;
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                let free = budget.saturating_sub(used) / shape.part_size.max(1);
                parallel = free.min(shape.parallel as u64) as usize;
                (parallel >= 2).then(|| used + parallel as u64 * shape.part_size)
            })
            .ok()?;
        let bytes = parallel as u64 * shape.part_size;
        Some((Reservation { bytes, counter }, parallel))
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// A piece of a part: `buf[..len]` holds content (the buffer keeps its full size for reuse).
struct Piece {
    buf: Vec<u8>,
    len: usize,
}

/// A part handed to a worker: its pieces so far, in order.
#[derive(Default)]
struct Slot {
    pieces: VecDeque<Piece>,
    done: bool,
}

struct State {
    /// The part the reader is in.
    head: u64,
    /// The next part to hand to a worker.
    next: u64,
    /// Parts `head..next`.
    slots: VecDeque<Slot>,
    /// The answer for part 0, opened by the caller.
    first: Option<Box<dyn Read + Send>>,
    /// Buffers of pieces the reader is done with.
    spare: Vec<Vec<u8>>,
    /// Piece buffers allocated so far.
    allocated: usize,
    /// The first failure; every later read repeats it.
    failure: Option<(io::ErrorKind, String)>,
}

struct Shared {
    state: Mutex<State>,
    /// The reader waits here for pieces.
    data: Condvar,
    /// Workers wait here for a part to start.
    room: Condvar,
    /// The reader is gone; checked without the lock between reads from the network.
    closed: AtomicBool,
    range: Range<u64>,
    parts: u64,
    shape: Shape,
    /// Given back once the last worker and the reader are gone, with the buffers.
    _reservation: Option<Reservation>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self, kind: io::ErrorKind, message: String) {
        let mut state = self.lock();
        if state.failure.is_none() {
            state.failure = Some((kind, message));
        }
        self.data.notify_all();
        self.room.notify_all();
    }

    /// The next part for a worker (with the caller's answer for part 0), waiting for room;
    /// `None` when there is nothing more to do.
    fn claim(&self) -> Option<(u64, Option<Box<dyn Read + Send>>)> {
        let mut state = self.lock();
        loop {
            if self.closed.load(Ordering::Acquire)
                || state.failure.is_some()
                || state.next >= self.parts
            {
                return None;
            }
            if state.next < state.head + self.shape.parallel as u64 {
                break;
            }
            state = self
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let index = state.next;
        state.next += 1;
        state.slots.push_back(Slot::default());
        let first = if index == 0 { state.first.take() } else { None };
        Some((index, first))
    }

    fn spare_buffer(&self) -> Vec<u8> {
        let mut state = self.lock();
        match state.spare.pop() {
            Some(buf) => buf,
            None => {
                state.allocated += 1;
                let per_part = self.shape.part_size.div_ceil(self.shape.piece as u64) as usize;
                debug_assert!(state.allocated <= self.shape.parallel * per_part);
                drop(state);
                vec![0; self.shape.piece]
            }
        }
    }

    /// Reads part `index` from `body` into pieces for the reader. `Ok(false)`: the reader
    /// went away.
    fn fill(&self, index: u64, body: &mut dyn Read) -> io::Result<bool> {
        let range = part_range(&self.range, self.shape.part_size, index);
        let len = range.end - range.start;
        let mut got = 0u64;
        while got < len {
            let want = (len - got).min(self.shape.piece as u64) as usize;
            let mut buf = self.spare_buffer();
            let mut filled = 0;
            while filled < want {
                if self.closed.load(Ordering::Acquire) {
                    return Ok(false);
                }
                match body.read(&mut buf[filled..want]) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!(
                                "the object store ended bytes {}-{} after {} bytes",
                                range.start,
                                range.end - 1,
                                got + filled as u64
                            ),
                        ))
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            got += want as u64;
            let last = got == len;
            if last {
                // Checked before the last piece goes out, so that the reader cannot reach
                // the end first. Reading the end also lets the connection be reused.
                let mut probe = [0u8; 1];
                if body.read(&mut probe)? != 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "the object store sent more than bytes {}-{}",
                            range.start,
                            range.end - 1
                        ),
                    ));
                }
            }
            let mut state = self.lock();
            if self.closed.load(Ordering::Acquire) {
                return Ok(false);
            }
            let at = index.checked_sub(state.head).map(|i| i as usize);
            let Some(slot) = at.and_then(|i| state.slots.get_mut(i)) else {
                return Err(io::Error::other("read-ahead lost track of a part"));
            };
            slot.pieces.push_back(Piece { buf, len: want });
            slot.done = last;
            self.data.notify_all();
        }
        Ok(true)
    }

    /// The next piece in order, waiting for it; `done` is the reader's last buffer, kept
    /// for reuse.
    fn next_piece(&self, done: Vec<u8>) -> io::Result<Piece> {
        let mut state = self.lock();
        if !done.is_empty() {
            state.spare.push(done);
        }
        loop {
            if let Some((kind, message)) = &state.failure {
                return Err(io::Error::new(*kind, message.clone()));
            }
            if state.slots.is_empty() && state.head >= self.parts {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "read-ahead ran out of parts",
                ));
            }
            if let Some(slot) = state.slots.front_mut() {
                if let Some(piece) = slot.pieces.pop_front() {
                    return Ok(piece);
                }
                if slot.done {
                    state.slots.pop_front();
                    state.head += 1;
                    self.room.notify_all();
                    continue;
                }
            }
            state = self
                .data
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A worker: fetches parts in turn until none is left, the reader is gone or a part failed.
fn work(shared: Arc<Shared>, source: Arc<dyn PartSource>) {
    let _guard = PanicGuard(&shared);
    while let Some((index, first)) = shared.claim() {
        let range = part_range(&shared.range, shared.shape.part_size, index);
        let body = match first {
            Some(body) => Ok(body),
            None => source.fetch(range),
        };
        match body.and_then(|mut body| shared.fill(index, &mut *body)) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                shared.fail(e.kind(), e.to_string());
                return;
            }
        }
    }
}

/// Fails the read when a worker panics, so that the reader does not wait for its part.
struct PanicGuard<'a>(&'a Shared);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .fail(io::ErrorKind::Other, "a read-ahead worker panicked".into());
        }
    }
}

/// Reads `range` in order from parts fetched ahead.
pub(super) struct ReadAhead {
    /// The piece being copied out; dropped before `shared`, which may give the reservation
    /// back.
    piece: Vec<u8>,
    filled: usize,
    pos: usize,
    /// Bytes still to hand out.
    left: u64,
    shared: Arc<Shared>,
}

impl ReadAhead {
    /// Starts the workers. `first` is the answer for the first part, already opened (so
    /// that a missing object fails the caller's open, not its first read).
    pub(super) fn start(
        source: Arc<dyn PartSource>,
        range: Range<u64>,
        first: Box<dyn Read + Send>,
        shape: Shape,
        reservation: Option<Reservation>,
    ) -> io::Result<ReadAhead> {
        let len = range.end.saturating_sub(range.start);
        let parts = part_count(len, shape.part_size);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                head: 0,
                next: 0,
                slots: VecDeque::new(),
                first: Some(first),
                spare: Vec::new(),
                allocated: 0,
                failure: None,
            }),
            data: Condvar::new(),
            room: Condvar::new(),
            closed: AtomicBool::new(false),
            range,
            parts,
            shape,
            _reservation: reservation,
        });
        let reader = ReadAhead {
            shared: shared.clone(),
            piece: Vec::new(),
            filled: 0,
            pos: 0,
            left: len,
        };
        let workers = (shape.parallel as u64).min(parts);
        for i in 0..workers {
            let (shared, source) = (shared.clone(), source.clone());
            let spawned = std::thread::Builder::new()
                .name("s3-read-ahead".into())
                .spawn(move || work(shared, source));
            if let Err(e) = spawned {
                if i == 0 {
                    return Err(e);
                }
                // Fewer workers still deliver every part.
                break;
            }
        }
        Ok(reader)
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || self.left == 0 {
            return Ok(0);
        }
        if self.pos == self.filled {
            let done = std::mem::take(&mut self.piece);
            let piece = self.shared.next_piece(done)?;
            self.piece = piece.buf;
            self.filled = piece.len;
            self.pos = 0;
        }
        let n = buf.len().min(self.filled - self.pos);
        buf[..n].copy_from_slice(&self.piece[self.pos..self.pos + n]);
        self.pos += n;
        self.left -= n as u64;
        Ok(n)
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        let first = {
            let mut state = self.shared.lock();
            state.spare.clear();
            state.first.take()
        };
        drop(first);
        self.shared.data.notify_all();
        self.shared.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::{Duration, Instant};

    /// Byte `i` of the test content.
    fn byte_at(i: u64) -> u8 {
        (i.wrapping_mul(2_654_435_761) >> 13) as u8
    }

    fn content(range: Range<u64>) -> Vec<u8> {
        range.map(byte_at).collect()
    }

    /// A reader that hands out at most `step` bytes per call, pausing now and then.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        pause: Duration,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if !self.pause.is_zero() && self.pos.is_multiple_of(self.step * 4) {
                std::thread::sleep(self.pause);
            }
            let n = buf.len().min(self.step).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    /// What a fake store does with a part.
    #[derive(Clone, Copy)]
    enum Fault {
        None,
        /// Fetching part `n` fails.
        Refuse(u64),
        /// Part `n` ends early.
        Short(u64),
        /// Part `n` has a byte too many.
        Long(u64),
    }

    struct Fake {
        range: Range<u64>,
        part_size: u64,
        fault: Fault,
        fetches: AtomicUsize,
        /// Part starts, in order of the calls.
        started: Mutex<Vec<u64>>,
        pause: Duration,
    }

    impl Fake {
        fn new(range: Range<u64>, part_size: u64, fault: Fault) -> Arc<Fake> {
            Arc::new(Fake {
                range,
                part_size,
                fault,
                fetches: AtomicUsize::new(0),
                started: Mutex::new(Vec::new()),
                pause: Duration::ZERO,
            })
        }

        fn body(&self, range: Range<u64>) -> io::Result<Box<dyn Read + Send>> {
            let index = (range.start - self.range.start) / self.part_size;
            let mut data = content(range.clone());
            match self.fault {
                Fault::Refuse(n) if n == index => return Err(io::Error::other("refused")),
                Fault::Short(n) if n == index => {
                    data.pop();
                }
                Fault::Long(n) if n == index => data.push(0),
                _ => {}
            }
            // Later parts come faster, so that parts complete out of order.
            let step = 1 + (index as usize % 3) * 7;
            let pause = if index.is_multiple_of(2) {
                Duration::from_micros(50)
            } else {
                Duration::ZERO
            };
            Ok(Box::new(Trickle {
                data,
                pos: 0,
                step,
                pause: pause.max(self.pause),
            }))
        }
    }

    impl PartSource for Fake {
        fn fetch(&self, range: Range<u64>) -> io::Result<Box<dyn Read + Send>> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            self.started
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(range.start);
            self.body(range)
        }
    }

    fn open(fake: &Arc<Fake>, shape: Shape) -> ReadAhead {
        let first = part_range(&fake.range, shape.part_size, 0);
        let first = fake.body(first).expect("first part");
        ReadAhead::start(fake.clone(), fake.range.clone(), first, shape, None)
            .expect("workers start")
    }

    fn read_in_chunks(reader: &mut ReadAhead, chunk: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn parts_cover_the_range_in_order() {
        assert_eq!(part_count(0, 8), 0);
        assert_eq!(part_count(1, 8), 1);
        assert_eq!(part_count(8, 8), 1);
        assert_eq!(part_count(9, 8), 2);
        assert_eq!(part_count(u64::MAX, 1 << 23), (u64::MAX >> 23) + 1);
        for (range, size) in [(0..64, 8), (5..70, 8), (3..4, 8), (100..117, 5), (7..7, 4)] {
            let count = part_count(range.end - range.start, size);
            let mut at = range.start;
            for i in 0..count {
                let part = part_range(&range, size, i);
                assert_eq!(part.start, at, "{range:?} part {i}");
                assert!(part.end > part.start && part.end - part.start <= size);
                at = part.end;
            }
            assert_eq!(at, range.end, "{range:?} split at {size}");
            assert!(part_range(&range, size, count).is_empty());
        }
    }

    #[test]
    fn delivers_every_byte_in_order() {
        let shapes = [
            (16, 2, 4),
            (16, 4, 16),
            (32, 3, 8),
            (10, 5, 5),
            (64, 1, 64),
            (7, 4, 7),
        ];
        for (part_size, parallel, piece) in shapes {
            for range in [0..1000, 13..521, 64..128, 0..1, 999..1031] {
                let shape = Shape {
                    part_size,
                    parallel,
                    piece,
                };
                for chunk in [1, 5, 64, 4096] {
                    let fake = Fake::new(range.clone(), part_size, Fault::None);
                    let mut reader = open(&fake, shape);
                    let got = read_in_chunks(&mut reader, chunk).expect("read");
                    assert!(
                        got == content(range.clone()),
                        "{range:?} as {shape:?} in chunks of {chunk}"
                    );
                    let parts = part_count(range.end - range.start, part_size) as usize;
                    // Part 0 came with the opening; every other part is fetched once.
                    assert_eq!(fake.fetches.load(Ordering::SeqCst), parts - 1);
                }
            }
        }
    }

    fn expect_failure(fault: Fault, kind: io::ErrorKind) {
        let range = 3..403;
        let shape = Shape {
            part_size: 40,
            parallel: 3,
            piece: 8,
        };
        let fake = Fake::new(range.clone(), shape.part_size, fault);
        let mut reader = open(&fake, shape);
        let err = read_in_chunks(&mut reader, 16).expect_err("a broken part fails the read");
        assert_eq!(err.kind(), kind, "{err}");
        // And keeps failing: no later read pretends the content ended.
        let mut buf = [0u8; 16];
        assert!(reader.read(&mut buf).is_err());
    }

    #[test]
    fn a_failed_part_is_a_read_error() {
        expect_failure(Fault::Refuse(4), io::ErrorKind::Other);
        expect_failure(Fault::Refuse(9), io::ErrorKind::Other);
    }

    #[test]
    fn a_short_part_is_a_read_error_not_a_short_read() {
        expect_failure(Fault::Short(2), io::ErrorKind::UnexpectedEof);
        // The last part: the reader must not reach the end before the check.
        expect_failure(Fault::Short(9), io::ErrorKind::UnexpectedEof);
        expect_failure(Fault::Short(0), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_long_part_is_a_read_error() {
        expect_failure(Fault::Long(5), io::ErrorKind::InvalidData);
        expect_failure(Fault::Long(9), io::ErrorKind::InvalidData);
    }

    #[test]
    fn fetches_no_further_ahead_than_allowed() {
        let shape = Shape {
            part_size: 10,
            parallel: 3,
            piece: 5,
        };
        let fake = Fake::new(0..200, shape.part_size, Fault::None);
        let mut reader = open(&fake, shape);
        std::thread::sleep(Duration::from_millis(100));
        // Parts 0 (opened by the caller), 1 and 2: nothing more until the reader moves.
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 2);
        let mut buf = [0u8; 10];
        let mut read = 0;
        while read < 10 {
            read += reader.read(&mut buf[read..]).expect("read");
        }
        // Taking the last piece of part 0 is not yet leaving it.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 2);
        assert_eq!(reader.read(&mut buf[..1]).expect("read"), 1);
        let deadline = Instant::now() + Duration::from_secs(5);
        while fake.fetches.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(fake.fetches.load(Ordering::SeqCst), 3);
        let started = fake
            .started
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut sorted = started.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![10, 20, 30]);
    }

    #[test]
    fn buffers_stay_within_the_parts_in_flight() {
        let shape = Shape {
            part_size: 64,
            parallel: 4,
            piece: 16,
        };
        let fake = Fake::new(0..4096, shape.part_size, Fault::None);
        let mut reader = open(&fake, shape);
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = reader.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            std::thread::sleep(Duration::from_micros(20));
        }
        let allocated = reader.shared.lock().allocated;
        assert!(allocated <= 4 * 64 / 16, "{allocated} pieces of 16 bytes");
        assert!(out == content(0..4096));
    }

    #[test]
    fn dropping_the_reader_stops_the_workers() {
        let shape = Shape {
            part_size: 1000,
            parallel: 4,
            piece: 100,
        };
        let mut fake = Fake::new(0..100_000, shape.part_size, Fault::None);
        if let Some(f) = Arc::get_mut(&mut fake) {
            f.pause = Duration::from_millis(2);
        }
        let mut reader = open(&fake, shape);
        let mut buf = [0u8; 10];
        assert_eq!(reader.read(&mut buf).expect("read"), 10);
        drop(reader);
        // Workers hold the source; once they are gone only this handle is left.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&fake) > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(Arc::strong_count(&fake), 1, "workers still running");
        assert!(fake.fetches.load(Ordering::SeqCst) <= 4);
    }

    #[test]
    fn the_budget_shrinks_and_refuses_reads() {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let shape = Shape {
            part_size: 10,
            parallel: 4,
            piece: 5,
        };
        let (a, n) = Reservation::take_from(shape, 100, &COUNTER).expect("room");
        assert_eq!(n, 4);
        let (b, n) = Reservation::take_from(shape, 100, &COUNTER).expect("room");
        assert_eq!(n, 4);
        let (c, n) = Reservation::take_from(shape, 100, &COUNTER).expect("room for two");
        assert_eq!(n, 2);
        assert!(Reservation::take_from(shape, 100, &COUNTER).is_none());
        drop(b);
        assert_eq!(COUNTER.load(Ordering::SeqCst), 60);
        let (d, n) = Reservation::take_from(shape, 100, &COUNTER).expect("room again");
        assert_eq!(n, 4);
        drop((a, c, d));
        assert_eq!(COUNTER.load(Ordering::SeqCst), 0);
    }
}

//! Writing a large upload to disk while it still arrives. The kernel starts writing dirty
//! pages only once a share of memory is dirty (gigabytes on a large machine), so without
//! help a 1 GiB upload reaches the disk only in the `fdatasync` after its last byte, and
//! the client waits for the network transfer and then for the whole disk write. Handing
//! each new stretch to the disk at once (`sync_file_range`) overlaps the two, and waiting
//! for the stretch written a little earlier keeps what is unwritten small, so the final
//! `fdatasync` only flushes the tail. The final `fdatasync` stays what makes the upload
//! durable; this only changes when the work happens.

use std::fs::File;

/// Bytes handed to the disk at a time.
const STEP: u64 = 8 << 20;
/// How far behind the newest byte the waiting runs: at most this much (plus one step) is
/// unwritten at any time.
const LAG: u64 = 32 << 20;

/// Where an upload's file stands: written to the disk up to `started`, known on disk up to
/// `waited`.
#[derive(Debug, Default)]
pub(crate) struct Writeback {
    started: u64,
    waited: u64,
}

impl Writeback {
    /// Called after the file grew to `len` bytes.
    pub(crate) fn wrote(&mut self, file: &File, len: u64) {
        if len < self.started + STEP {
            return;
        }
        sync_range(file, self.started, len - self.started, Sync::Start);
        self.started = len;
        if self.started > self.waited + LAG {
            let upto = self.started - LAG;
            sync_range(file, self.waited, upto - self.waited, Sync::Wait);
            self.waited = upto;
        }
    }
}

enum Sync {
    /// Start writing the range's dirty pages.
    Start,
    /// Write the range's dirty pages and wait until they are written.
    Wait,
}

/// `sync_file_range(2)`. Failures are left for the final `fdatasync` to report: this only
/// moves work earlier.
#[cfg(target_os = "linux")]
fn sync_range(file: &File, offset: u64, len: u64, how: Sync) {
    use std::os::fd::AsRawFd;
    let flags = match how {
        Sync::Start => libc::SYNC_FILE_RANGE_WRITE,
        Sync::Wait => {
            libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER
        }
    };
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: a plain system call on a descriptor `file` keeps open for the call; it reads
    // and writes no memory of this process.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), offset, len, flags) };
    if rc != 0 {
        log::debug!(
            "sync_file_range: {}; the final fdatasync will write the data",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn sync_range(_file: &File, _offset: u64, _len: u64, _how: Sync) {}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn ranges_advance_by_steps_and_waiting_lags_behind() {
        let mut file = tempfile::tempfile().unwrap();
        let mut wb = Writeback::default();
        let chunk = vec![7u8; 1 << 20];
        let mut len = 0u64;
        for _ in 0..64 {
            file.write_all(&chunk).unwrap();
            len += chunk.len() as u64;
            wb.wrote(&file, len);
            assert!(wb.started <= len && len - wb.started < STEP);
            assert!(wb.waited <= wb.started);
            assert!(wb.started - wb.waited <= LAG + STEP);
        }
        assert_eq!(wb.started, 64 << 20);
        assert_eq!(wb.waited, (64 << 20) - LAG);
        // Small files never get there.
        let mut small = Writeback::default();
        small.wrote(&file, STEP - 1);
        assert_eq!((small.started, small.waited), (0, 0));
    }
}

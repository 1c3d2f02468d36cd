//! Download counting. Every GET of a file adds one to its version's counter. When batching is
//! on, increments are gathered in memory and written in one transaction per interval by
//! [`DownloadCounter::flush`], so a download costs no database write of its own; the counter
//! then lags by at most one interval (and a crash loses at most that interval's counts).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use packages_db::{Database, DbError};

/// Pending download counts per version.
#[derive(Debug, Default)]
pub struct DownloadCounter {
    batched: bool,
    pending: Mutex<HashMap<i64, i64>>,
}

impl DownloadCounter {
    /// A counter that writes each download at once (`batched == false`) or gathers them for
    /// [`DownloadCounter::flush`].
    pub fn new(batched: bool) -> Self {
        DownloadCounter {
            batched,
            pending: Mutex::default(),
        }
    }

    /// Whether counts are gathered in memory (recording then never blocks).
    pub fn is_batched(&self) -> bool {
        self.batched
    }

    /// Counts one download of `version_id`. Blocking when not batched.
    pub fn record(&self, db: &Database, version_id: i64) -> Result<(), DbError> {
        if !self.batched {
            return db.count_download(version_id);
        }
        *self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(version_id)
            .or_default() += 1;
        Ok(())
    }

    /// Writes the gathered counts; on failure they are kept for the next flush. Blocking.
    pub fn flush(&self, db: &Database) -> Result<usize, DbError> {
        let batch: Vec<(i64, i64)> = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            if pending.is_empty() {
                return Ok(0);
            }
            pending.drain().collect()
        };
        match db.count_downloads(&batch) {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                for (version_id, n) in batch {
                    *pending.entry(version_id).or_default() += n;
                }
                Err(e)
            }
        }
    }
}

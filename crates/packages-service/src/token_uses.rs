//! When each token was last used, gathered in memory and written in batches by
//! [`TokenUses::flush`] (the server calls it with the download counts). Recording a use is
//! then never a write on the request path, so a request that only reads cannot wait for the
//! database's write lock.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use packages_db::{Database, DbError};

/// A token's use is written at most this often per process.
const INTERVAL: Duration = Duration::from_secs(60);

/// Uses not written yet, and when each token's use was last taken for writing.
#[derive(Debug, Default)]
pub struct TokenUses {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Token id → Unix time of its latest use.
    pending: HashMap<i64, i64>,
    taken: HashMap<i64, Instant>,
}

impl TokenUses {
    /// Notes a use of `token_id` at `unix_time`. Never blocks on the database.
    pub fn record(&self, token_id: i64, unix_time: i64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner
            .taken
            .get(&token_id)
            .is_some_and(|t| t.elapsed() < INTERVAL)
        {
            return;
        }
        if inner.taken.len() > 100_000 {
            inner.taken.clear();
        }
        inner.taken.insert(token_id, Instant::now());
        inner.pending.insert(token_id, unix_time);
    }

    /// Writes the gathered uses; on failure they are kept for the next flush. Blocking.
    pub fn flush(&self, db: &Database) -> Result<usize, DbError> {
        let batch: Vec<(i64, i64)> = {
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            if inner.pending.is_empty() {
                return Ok(0);
            }
            inner.pending.drain().collect()
        };
        match db.touch_tokens(&batch) {
            Ok(()) => Ok(batch.len()),
            Err(e) => {
                let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
                for (id, at) in batch {
                    let latest = inner.pending.entry(id).or_insert(at);
                    *latest = (*latest).max(at);
                }
                Err(e)
            }
        }
    }
}

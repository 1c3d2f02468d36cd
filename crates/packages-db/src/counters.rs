//! Download counters, written in batches.

use diesel::prelude::*;

use crate::error::DbError;
use crate::pool::Database;
use crate::schema::package_version;

impl Database {
    /// Adds `n` to the download counter of each `(version_id, n)` in one transaction. Versions
    /// deleted meanwhile are skipped. Several processes may flush at once: each adds its own
    /// counts.
    pub fn count_downloads(&self, counts: &[(i64, i64)]) -> Result<(), DbError> {
        if counts.is_empty() {
            return Ok(());
        }
        // In one order, so that two processes flushing at once take the row locks in the
        // same order instead of deadlocking on PostgreSQL.
        let mut sorted = counts.to_vec();
        sorted.sort_unstable();
        self.write_additive(|c| {
            for &(version_id, n) in &sorted {
                run!(c, |c| diesel::update(
                    package_version::table.find(version_id)
                )
                .set(package_version::download_count.eq(package_version::download_count + n))
                .execute(c))?;
            }
            Ok(())
        })
    }
}

//! Download counters, written in batches.

use diesel::prelude::*;

use crate::error::DbError;
use crate::pool::Database;
use crate::schema::package_version;

impl Database {
    /// Adds `n` to the download counter of each `(version_id, n)` in one transaction. Versions
    /// deleted meanwhile are skipped.
    pub fn count_downloads(&self, counts: &[(i64, i64)]) -> Result<(), DbError> {
        if counts.is_empty() {
            return Ok(());
        }
        self.write_additive(|c| {
            for &(version_id, n) in counts {
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

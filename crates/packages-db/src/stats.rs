//! Figures for monitoring: connection pool use and how much is stored.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::error::DbError;
use crate::pool::Database;
use crate::schema::{package, package_file, package_version, users};

/// The connection pool right now, and its waits since start.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolStats {
    pub max_size: u32,
    pub connections: u32,
    pub idle: u32,
    /// Connections taken from the pool.
    pub checkouts: u64,
    /// Time spent waiting for them.
    pub wait_seconds: f64,
}

/// How much is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredTotals {
    /// Users and organisations.
    pub owners: i64,
    pub packages: i64,
    pub versions: i64,
    pub files: i64,
    /// Bytes of distinct content (each blob once).
    pub stored_bytes: i64,
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Database {
    /// Counts rows; a few index scans, meant for a periodic job rather than every scrape.
    pub fn stored_totals(&self) -> Result<StoredTotals, DbError> {
        self.read(|c| {
            let owners = run!(c, |c| users::table.count().get_result::<i64>(c))?;
            let packages = run!(c, |c| package::table.count().get_result::<i64>(c))?;
            let versions = run!(c, |c| package_version::table.count().get_result::<i64>(c))?;
            let files = run!(c, |c| package_file::table.count().get_result::<i64>(c))?;
            // SUM of a BIGINT is NUMERIC on PostgreSQL; the cast keeps one type for both.
            let bytes = run!(c, |c| diesel::sql_query(
                "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS n FROM package_blob"
            )
            .get_result::<Total>(c))?;
            Ok(StoredTotals {
                owners,
                packages,
                versions,
                files,
                stored_bytes: bytes.n,
            })
        })
    }
}

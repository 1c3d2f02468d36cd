//! Failed password attempts, kept in the database so that every instance counts them: the
//! password-guessing limits of every path that takes a password read and write them here.

use diesel::prelude::*;

use crate::error::DbError;
use crate::pool::Database;
use crate::schema::login_failure as lf;

impl Database {
    /// The times (unix ms, oldest first) of at most `limit` failures recorded for `key` at or
    /// after `since_ms`.
    pub fn login_failures(
        &self,
        key: &str,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<i64>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| lf::table
                .filter(lf::key.eq(key))
                .filter(lf::failed_ms.ge(since_ms))
                .order(lf::failed_ms)
                .select(lf::failed_ms)
                .limit(limit)
                .load(c))?)
        })
    }

    /// Records one failure at `now_ms` under each key.
    pub fn record_login_failure(&self, keys: &[String], now_ms: i64) -> Result<(), DbError> {
        let rows: Vec<_> = keys
            .iter()
            .map(|k| (lf::key.eq(k), lf::failed_ms.eq(now_ms)))
            .collect();
        self.write_additive(|c| {
            run!(c, |c| diesel::insert_into(lf::table)
                .values(&rows)
                .execute(c))?;
            Ok(())
        })
    }

    /// Forgets the failures of `key` (an account that signed in).
    pub fn clear_login_failures(&self, key: &str) -> Result<(), DbError> {
        self.write_additive(|c| {
            run!(c, |c| diesel::delete(lf::table.filter(lf::key.eq(key)))
                .execute(c))?;
            Ok(())
        })
    }

    /// Removes failures older than `before_ms`; answers how many.
    pub fn prune_login_failures(&self, before_ms: i64) -> Result<usize, DbError> {
        self.write_additive(|c| {
            Ok(run!(c, |c| diesel::delete(
                lf::table.filter(lf::failed_ms.lt(before_ms))
            )
            .execute(c))?)
        })
    }
}

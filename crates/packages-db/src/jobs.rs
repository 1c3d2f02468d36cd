//! Background jobs that at most one process runs at a time on a shared database.

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::error::DbError;
use crate::pool::Database;

/// A background job that must not run in two processes at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// The sweep of unreferenced content and empty packages.
    Sweep,
    /// Applying the enabled package cleanup rules.
    CleanupRules,
}

impl Job {
    /// The PostgreSQL advisory lock key of the job (beside the migrations' key).
    fn lock_key(self) -> i64 {
        match self {
            Job::Sweep => 0x666f_7267_6573_7701,
            Job::CleanupRules => 0x666f_7267_6573_7702,
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Locked {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    locked: bool,
}

impl Database {
    /// Runs `f` unless another process is running `job` on this database right now, in
    /// which case it answers `None` at once. On PostgreSQL the turn is a session advisory
    /// lock held on a connection of its own (not a pooled one, which would keep the lock if
    /// `f` panicked); PostgreSQL releases it when that connection ends, so a process killed
    /// in the middle blocks nobody. SQLite has one process per file and always runs `f`.
    pub fn run_exclusive<T>(&self, job: Job, f: impl FnOnce() -> T) -> Result<Option<T>, DbError> {
        let Some(url) = self.postgres_url() else {
            return Ok(Some(f()));
        };
        let mut conn = PgConnection::establish(url).map_err(|e| {
            log::warn!("cannot connect for the {job:?} lock: {e}");
            DbError::Unavailable
        })?;
        let locked: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
            .bind::<diesel::sql_types::BigInt, _>(job.lock_key())
            .get_result(&mut conn)
            .map_err(DbError::from_diesel)?;
        if !locked.locked {
            return Ok(None);
        }
        let result = f();
        // Closing the connection releases the lock even when this fails.
        if let Err(e) = diesel::sql_query("SELECT pg_advisory_unlock($1)")
            .bind::<diesel::sql_types::BigInt, _>(job.lock_key())
            .execute(&mut conn)
        {
            log::debug!("releasing the {job:?} lock: {e}");
        }
        Ok(Some(result))
    }
}

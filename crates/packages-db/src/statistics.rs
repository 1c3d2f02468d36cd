//! Planner statistics of the package tables on PostgreSQL, refreshed when a table has grown
//! faster than autovacuum looks at it.
//!
//! A connection keeps the plans of the statements it prepared, and of the foreign-key checks
//! its inserts run, as PostgreSQL chose them at the table sizes of the last `ANALYZE`. A
//! table analyzed while it held a few rows gets plans that read it whole; once thousands of
//! rows arrive within a minute (a young registry's first import), every upload pays for that
//! scan until autovacuum's next `ANALYZE` (measured on 2 cores: 1,251 uploads/s against
//! 3,500). A new `ANALYZE` makes every connection plan again.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};

use crate::error::DbError;
use crate::pool::{Conn, Database};

/// The tables whose size the upload's plans depend on.
const TABLES: [&str; 4] = ["package", "package_version", "package_blob", "package_file"];

/// Changed rows below this never call for an `ANALYZE` here: plans of tables that small cost
/// little either way, and autovacuum gets to them.
const MIN_CHANGES: i64 = 1000;

#[derive(QueryableByName)]
struct Grown {
    #[diesel(sql_type = Text)]
    relname: String,
}

impl Database {
    /// Refreshes the planner statistics of tables that outgrew them; returns the tables
    /// analyzed by name (PostgreSQL only).
    ///
    /// PostgreSQL: `ANALYZE` on each package table that has had as many rows changed since
    /// its last analysis as it held then (and at least [`MIN_CHANGES`]), so that its size at
    /// least doubled or halved. SQLite: `PRAGMA optimize`, which decides alone and names no
    /// table. Without statistics SQLite sorts all of an owner's versions to list the newest
    /// few; with stale ones it may scan where an index would do.
    pub fn refresh_statistics(&self) -> Result<Vec<&'static str>, DbError> {
        self.read(|c| match c {
            Conn::Lite(lite) => {
                lite.batch_execute("PRAGMA optimize = 0x10002;")?;
                Ok(Vec::new())
            }
            Conn::Pg(pg) => {
                // The activity counters lag by up to a second; a late look only delays the
                // refresh to the next run.
                let grown: Vec<Grown> = diesel::sql_query(
                    "SELECT s.relname::text AS relname FROM pg_stat_user_tables s \
                     JOIN pg_class c ON c.oid = s.relid \
                     WHERE s.schemaname = current_schema() AND s.relname = ANY($1) \
                     AND s.n_mod_since_analyze >= GREATEST(c.reltuples::bigint, $2)",
                )
                .bind::<Array<Text>, _>(&TABLES[..])
                .bind::<BigInt, _>(MIN_CHANGES)
                .load(&mut **pg)?;
                let mut analyzed = Vec::new();
                // Names from the fixed list only, never from the answer itself.
                for table in TABLES {
                    if grown.iter().any(|g| g.relname == table) {
                        diesel::sql_query(format!("ANALYZE {table}")).execute(&mut **pg)?;
                        analyzed.push(table);
                    }
                }
                Ok(analyzed)
            }
        })
    }
}

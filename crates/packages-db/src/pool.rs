//! Connection pools for both backends, the per-backend dispatch of queries, transactions with
//! retries, and the embedded schema migrations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, ManageConnection, PooledConnection};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::{DbError, TxResult};

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Key of the PostgreSQL advisory lock held while migrating, so that several instances
/// starting at once apply the migrations one after another.
const MIGRATION_LOCK_KEY: i64 = 0x666f_7267_6570_6b67;

/// How often a transaction that lost a race is run again before the error is returned.
const MAX_TX_ATTEMPTS: u32 = 6;

/// How long a request waits for a free pooled connection before giving up.
const POOL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long SQLite waits for a lock held by another connection, in milliseconds.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

/// Which database server a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

enum Pool {
    Postgres(r2d2::Pool<ConnectionManager<PgConnection>>),
    Sqlite(r2d2::Pool<ConnectionManager<SqliteConnection>>),
}

/// A pool of connections to PostgreSQL or SQLite. Cheap to clone; all methods block, so call
/// them off the async executor.
#[derive(Clone)]
pub struct Database {
    pool: Arc<Pool>,
    /// SQLite has one writer; writers of this process queue here instead of in SQLite's busy
    /// handler, which sleeps in growing steps and turns contention into long tail latency.
    sqlite_writer: Arc<Mutex<()>>,
    /// Counts committed writes that may change what reads return; see [`Database::generation`].
    generation: Arc<AtomicU64>,
    /// Connections taken from the pool and the nanoseconds spent waiting for them.
    checkouts: Arc<(AtomicU64, AtomicU64)>,
}

/// A connection taken from the pool.
pub(crate) enum Pooled {
    Pg(PooledConnection<ConnectionManager<PgConnection>>),
    Lite(PooledConnection<ConnectionManager<SqliteConnection>>),
}

/// A borrowed connection of either backend; queries are written once and expanded for each
/// backend with [`run!`].
pub(crate) enum Conn<'a> {
    Pg(&'a mut PgConnection),
    Lite(&'a mut SqliteConnection),
}

/// Expands a diesel expression once per backend: `run!(conn, |c| query.load(c))` where `conn`
/// is a `&mut Conn` and `c` becomes the concrete connection.
macro_rules! run {
    ($conn:expr, |$c:ident| $body:expr) => {
        match &mut *$conn {
            $crate::pool::Conn::Pg($c) => {
                let $c: &mut ::diesel::PgConnection = &mut **$c;
                $body
            }
            $crate::pool::Conn::Lite($c) => {
                let $c: &mut ::diesel::SqliteConnection = &mut **$c;
                $body
            }
        }
    };
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Sets every new SQLite connection up for concurrent use: WAL lets readers run beside the
/// one writer, and the busy timeout makes writers queue instead of failing.
#[derive(Debug)]
struct SqliteSetup;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqliteSetup {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // The busy timeout goes first so that switching to WAL waits for other connections.
        // Planner statistics are not refreshed here: the pool opens connections while the
        // first requests arrive, and statistics of nearly empty tables would then steer every
        // later query to full scans. [`Database::optimize`] runs periodically instead.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; \
             PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The SQLite file a URL names: `sqlite://<path>`, `sqlite:<path>` or a plain path.
fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

impl Database {
    /// Opens a pool of at most `max_connections` connections. `postgres://` and
    /// `postgresql://` URLs select PostgreSQL; `sqlite://<path>` or a plain path selects an
    /// SQLite file, created if missing.
    pub fn connect(url: &str, max_connections: u32) -> Result<Database, DbError> {
        let max = max_connections.max(1);
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let manager = ConnectionManager::<PgConnection>::new(url);
            // One direct attempt first: an unreachable server fails at once with its reason
            // instead of after the pool's timeout.
            if let Err(e) = manager.connect() {
                log::error!("cannot connect to PostgreSQL: {e}");
                return Err(DbError::Unavailable);
            }
            let pool = r2d2::Pool::builder()
                .max_size(max)
                .min_idle(Some(1))
                .connection_timeout(POOL_TIMEOUT)
                // A check query per checkout would double the round trips of every request; a
                // connection that breaks is marked by its failing query and dropped on return.
                .test_on_check_out(false)
                .build(manager)
                .map_err(DbError::from_pool)?;
            Pool::Postgres(pool)
        } else {
            let path = sqlite_path(url);
            if path.is_empty() {
                return Err(DbError::Other("empty SQLite path".into()));
            }
            let manager = ConnectionManager::<SqliteConnection>::new(path);
            let mut probe = manager
                .connect()
                .map_err(|e| DbError::Other(format!("cannot open SQLite database {path}: {e}")))?;
            SqliteSetup.on_acquire(&mut probe).map_err(|e| {
                DbError::Other(format!("cannot set up SQLite database {path}: {e}"))
            })?;
            drop(probe);
            let pool = r2d2::Pool::builder()
                .max_size(max)
                .min_idle(Some(1))
                .connection_timeout(POOL_TIMEOUT)
                // A local file does not drop connections; skip the check query.
                .test_on_check_out(false)
                .connection_customizer(Box::new(SqliteSetup))
                .build(manager)
                .map_err(DbError::from_pool)?;
            Pool::Sqlite(pool)
        };
        Ok(Database {
            pool: Arc::new(pool),
            sqlite_writer: Arc::default(),
            generation: Arc::default(),
            checkouts: Arc::default(),
        })
    }

    /// The backend this database uses.
    pub fn backend(&self) -> Backend {
        match *self.pool {
            Pool::Postgres(_) => Backend::Postgres,
            Pool::Sqlite(_) => Backend::Sqlite,
        }
    }

    pub(crate) fn pooled(&self) -> Result<Pooled, DbError> {
        let started = std::time::Instant::now();
        let pooled = match &*self.pool {
            Pool::Postgres(p) => p.get().map(Pooled::Pg),
            Pool::Sqlite(p) => p.get().map(Pooled::Lite),
        }
        .map_err(DbError::from_pool);
        let waited = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.checkouts.0.fetch_add(1, Ordering::Relaxed);
        self.checkouts.1.fetch_add(waited, Ordering::Relaxed);
        pooled
    }

    /// The pool's size and use now, and its waits so far.
    pub fn pool_stats(&self) -> crate::PoolStats {
        let (max_size, state) = match &*self.pool {
            Pool::Postgres(p) => (p.max_size(), p.state()),
            Pool::Sqlite(p) => (p.max_size(), p.state()),
        };
        crate::PoolStats {
            max_size,
            connections: state.connections,
            idle: state.idle_connections,
            checkouts: self.checkouts.0.load(Ordering::Relaxed),
            wait_seconds: self.checkouts.1.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }

    /// Applies every pending migration. On PostgreSQL an advisory lock serialises instances
    /// that start together.
    pub fn run_migrations(&self) -> Result<(), DbError> {
        match self.pooled()? {
            Pooled::Pg(mut pg) => with_migration_lock(&mut pg, |c| {
                c.run_pending_migrations(PG_MIGRATIONS).map(|_| ())
            }),
            Pooled::Lite(mut lite) => with_sqlite_write_lock(&mut lite, |c| {
                c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ())
            }),
        }
    }

    /// Reverts every applied migration, leaving an empty schema.
    pub fn revert_migrations(&self) -> Result<(), DbError> {
        match self.pooled()? {
            Pooled::Pg(mut pg) => with_migration_lock(&mut pg, |c| {
                c.revert_all_migrations(PG_MIGRATIONS).map(|_| ())
            }),
            Pooled::Lite(mut lite) => with_sqlite_write_lock(&mut lite, |c| {
                c.revert_all_migrations(SQLITE_MIGRATIONS).map(|_| ())
            }),
        }
    }

    /// Refreshes the query planner's statistics of tables that grew or shrank a lot since
    /// they were last measured (cheap when nothing changed); the server calls it every minute
    /// on SQLite. Without statistics SQLite sorts all of an owner's versions to list the
    /// newest few; with stale ones it may scan where an index would do. PostgreSQL's
    /// autovacuum does this itself.
    pub fn optimize(&self) -> Result<(), DbError> {
        self.read(|c| {
            if let Conn::Lite(lite) = c {
                lite.batch_execute("PRAGMA optimize = 0x10002;")?;
            }
            Ok(())
        })
    }

    /// Checks that the database answers (`SELECT 1`).
    pub fn ping(&self) -> Result<(), DbError> {
        self.read(|c| {
            run!(c, |c| diesel::sql_query("SELECT 1").execute(c))?;
            Ok(())
        })
    }

    /// Runs `f` on a pooled connection without a transaction; for reads.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&mut Conn<'_>) -> TxResult<T>,
    ) -> Result<T, DbError> {
        let mut pooled = self.pooled()?;
        let result = match &mut pooled {
            Pooled::Pg(pg) => f(&mut Conn::Pg(pg)),
            Pooled::Lite(lite) => f(&mut Conn::Lite(lite)),
        };
        result.map_err(DbError::from)
    }

    /// A number that grows after every committed write that may change an existing row's
    /// meaning for readers (deletes, permission and account changes). A reader that notes it
    /// before a query may keep the result for as long as it stays the same. Writes that only
    /// add rows or bump counters ([`Database::add_file`], download counts, token use) leave it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Runs `f` in a write transaction, again when it lost a race with a concurrent one.
    /// SQLite transactions begin IMMEDIATE: the write lock is taken up front, so concurrent
    /// writers wait on the busy timeout instead of failing when a read lock would be upgraded.
    /// Afterwards the generation moves on, so cached reads are taken again.
    pub(crate) fn write<T>(
        &self,
        f: impl FnMut(&mut Conn<'_>) -> TxResult<T>,
    ) -> Result<T, DbError> {
        let result = self.write_raw(Retry::Conflicts, f).map_err(DbError::from);
        // After the commit (or failure): a reader that saw the old generation must not keep
        // what it read before this write became visible.
        self.generation.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// A write transaction that only adds rows or bumps counters, so cached reads stay valid.
    pub(crate) fn write_additive<T>(
        &self,
        f: impl FnMut(&mut Conn<'_>) -> TxResult<T>,
    ) -> Result<T, DbError> {
        self.write_raw(Retry::Conflicts, f).map_err(DbError::from)
    }

    /// Like [`Database::write`], but the error keeps its diesel kind, and `retry` decides
    /// whether a foreign-key violation (a row removed by a concurrent sweep) is retried too.
    pub(crate) fn write_raw<T>(
        &self,
        retry: Retry,
        mut f: impl FnMut(&mut Conn<'_>) -> TxResult<T>,
    ) -> TxResult<T> {
        let _writer = match self.backend() {
            Backend::Sqlite => Some(
                self.sqlite_writer
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            ),
            Backend::Postgres => None,
        };
        let mut pooled = self.pooled()?;
        let mut attempt = 1;
        loop {
            let result = match &mut pooled {
                Pooled::Pg(pg) => {
                    let pg: &mut PgConnection = pg;
                    pg.transaction(|c| f(&mut Conn::Pg(c)))
                }
                Pooled::Lite(lite) => {
                    let lite: &mut SqliteConnection = lite;
                    lite.immediate_transaction(|c| f(&mut Conn::Lite(c)))
                }
            };
            match result {
                Err(e)
                    if attempt < MAX_TX_ATTEMPTS
                        && (e.is_retryable()
                            || (retry == Retry::ConflictsAndForeignKeys
                                && e.is_foreign_key_violation())) =>
                {
                    log::debug!("transaction attempt {attempt} lost a race, retrying: {e:?}");
                    std::thread::sleep(retry_delay(attempt));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Which failures of a write transaction are worth another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Serialization failures, deadlocks and a busy SQLite database.
    Conflicts,
    /// Also foreign-key violations: the transaction referenced a row that a concurrent sweep
    /// deleted, and a new attempt recreates it.
    ConflictsAndForeignKeys,
}

/// A short, growing and slightly scattered pause so that retrying transactions do not collide
/// again in lockstep.
fn retry_delay(attempt: u32) -> Duration {
    let jitter = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % 5);
    Duration::from_millis((2u64 << attempt.min(6)) + jitter)
}

/// The error type of diesel's migration harness.
type MigrationError = Box<dyn std::error::Error + Send + Sync>;

/// Runs a migration step on SQLite inside one IMMEDIATE transaction (each migration becomes a
/// savepoint in it), so that processes starting together on one file migrate one after
/// another instead of failing on a lock upgrade.
fn with_sqlite_write_lock(
    conn: &mut SqliteConnection,
    step: impl FnOnce(&mut SqliteConnection) -> Result<(), MigrationError>,
) -> Result<(), DbError> {
    conn.immediate_transaction(|c| step(c).map_err(|e| DbError::Migration(e.to_string())))
}

/// Runs a migration step on PostgreSQL while holding the migration advisory lock.
fn with_migration_lock(
    conn: &mut PgConnection,
    step: impl FnOnce(&mut PgConnection) -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
) -> Result<(), DbError> {
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .execute(conn)
        .map_err(DbError::from_diesel)?;
    let result = step(conn).map_err(|e| DbError::Migration(e.to_string()));
    if let Err(e) =
        diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(conn)
    {
        // The lock goes away with the session at the latest.
        log::warn!("releasing the migration lock failed: {e}");
    }
    result
}

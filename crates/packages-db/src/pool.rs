//! Connection pools for both backends, the per-backend dispatch of queries, transactions with
//! retries, and the embedded schema migrations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, ManageConnection, PooledConnection};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::changes::{encode_payload, Change, ChangeSink, SinkSlot, CHANGES_CHANNEL};
use crate::error::{DbError, TxError, TxResult};
use crate::feed::ChangeFeed;

const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Key of the PostgreSQL advisory lock held while migrating, so that several instances
/// starting at once apply the migrations one after another.
const MIGRATION_LOCK_KEY: i64 = 0x666f_7267_6570_6b67;

/// How often a transaction that lost a race is run again before the error is returned.
const MAX_TX_ATTEMPTS: u32 = 6;

/// How long a request waits for a free pooled connection before giving up.
const POOL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request waits for a connection while the database has recently been found
/// unreachable: long enough to open a fresh connection to a database that came back, short
/// enough that every request answers 503 at once while it is down.
const FAIL_FAST_TIMEOUT: Duration = Duration::from_millis(500);

/// After a connection failure, connections are checked before use and checkouts fail fast
/// for this long; connections broken by a restart of the database are replaced meanwhile.
const SUSPECT_WINDOW_MS: u64 = 30_000;

/// How long SQLite waits for a lock held by another connection, in milliseconds. Reads in
/// WAL mode need no lock; this covers checkpoints and recovery.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 3_000;

/// The longest a write waits on SQLite, for this process's other writers and for a lock
/// held by another process (a backup, a shell) together; then it fails as busy (503).
const SQLITE_WRITE_WAIT: Duration = Duration::from_secs(3);

/// Which database server a [`Database`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

enum Pool {
    Postgres(r2d2::Pool<PgManager>),
    Sqlite(r2d2::Pool<ConnectionManager<SqliteConnection>>),
}

/// When the database was last found unreachable, in milliseconds since the epoch (0: never).
/// Shared by the pool's connection manager and the [`Database`] handles.
#[derive(Debug, Default)]
struct Health {
    last_failure_ms: AtomicU64,
}

impl Health {
    fn note_failure(&self) {
        self.last_failure_ms
            .store(now_ms().max(1), Ordering::Release);
    }

    /// True while a connection failure is recent.
    fn suspect(&self) -> bool {
        let last = self.last_failure_ms.load(Ordering::Acquire);
        last != 0 && now_ms().saturating_sub(last) < SUSPECT_WINDOW_MS
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// diesel's PostgreSQL manager, plus: a failed connect marks the database as suspect, and
/// while it is suspect a connection is checked (`SELECT 1`) before it is handed out, so the
/// ones a database restart broke are dropped instead of failing requests. Otherwise the
/// check is skipped: it would double the round trips of every request.
#[derive(Debug)]
pub(crate) struct PgManager {
    inner: ConnectionManager<PgConnection>,
    health: Arc<Health>,
}

impl ManageConnection for PgManager {
    type Connection = PgConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConnection, Self::Error> {
        self.inner
            .connect()
            .inspect_err(|_| self.health.note_failure())
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), Self::Error> {
        if self.health.suspect() {
            self.inner.is_valid(conn)
        } else {
            Ok(())
        }
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        self.inner.has_broken(conn)
    }
}

/// A lock with a deadline: this process's SQLite writers queue here, and give up when their
/// time is spent instead of queueing without end behind a lock another process holds.
#[derive(Debug, Default)]
struct WriterQueue {
    busy: Mutex<bool>,
    freed: Condvar,
}

struct WriterTurn<'a>(&'a WriterQueue);

impl WriterQueue {
    fn enter(&self, deadline: Instant) -> Option<WriterTurn<'_>> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while *busy {
            let left = deadline.checked_duration_since(Instant::now())?;
            busy = self
                .freed
                .wait_timeout(busy, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *busy = true;
        Some(WriterTurn(self))
    }
}

impl Drop for WriterTurn<'_> {
    fn drop(&mut self) {
        *self.0.busy.lock().unwrap_or_else(PoisonError::into_inner) = false;
        self.0.freed.notify_one();
    }
}

/// A pool of connections to PostgreSQL or SQLite. Cheap to clone; all methods block, so call
/// them off the async executor.
#[derive(Clone)]
pub struct Database {
    pool: Arc<Pool>,
    /// SQLite has one writer; writers of this process queue here instead of in SQLite's busy
    /// handler, which sleeps in growing steps and turns contention into long tail latency.
    sqlite_writer: Arc<WriterQueue>,
    health: Arc<Health>,
    /// Connections taken from the pool and the nanoseconds spent waiting for them.
    checkouts: Arc<(AtomicU64, AtomicU64)>,
    /// Told about every committed write that changes what cached reads return.
    sink: SinkSlot,
    /// The PostgreSQL URL, for connections of the change feed.
    pg_url: Option<Arc<str>>,
}

/// A connection taken from the pool.
pub(crate) enum Pooled {
    Pg(PooledConnection<PgManager>),
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

pub(crate) use packages_core::clock::now_unix;

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
        let health = Arc::new(Health::default());
        let mut pg_url = None;
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            pg_url = Some(Arc::from(url));
            let manager = PgManager {
                inner: ConnectionManager::<PgConnection>::new(url),
                health: health.clone(),
            };
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
                // `PgManager::is_valid` checks only while the database is suspect.
                .test_on_check_out(true)
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
            health,
            checkouts: Arc::default(),
            sink: SinkSlot::default(),
            pg_url,
        })
    }

    /// The backend this database uses.
    pub fn backend(&self) -> Backend {
        match *self.pool {
            Pool::Postgres(_) => Backend::Postgres,
            Pool::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// A pooled connection. The first short wait tells an unreachable database (the pool
    /// reports its connection error) from a busy pool; only a busy pool of a database not
    /// found unreachable lately is waited for longer. So requests answer 503 at once while
    /// the database is down instead of after the pool's timeout.
    pub(crate) fn pooled(&self) -> Result<Pooled, DbError> {
        let started = std::time::Instant::now();
        let get = |timeout| match &*self.pool {
            Pool::Postgres(p) => p.get_timeout(timeout).map(Pooled::Pg),
            Pool::Sqlite(p) => p.get_timeout(timeout).map(Pooled::Lite),
        };
        let pooled = match get(FAIL_FAST_TIMEOUT) {
            Ok(conn) => Ok(conn),
            Err(e) => {
                let e = self.noted(DbError::from_pool(e));
                if self.health.suspect() {
                    // No connection came while the database was lately unreachable.
                    Err(DbError::Unavailable)
                } else if matches!(e, DbError::Unavailable) {
                    Err(e)
                } else {
                    get(POOL_TIMEOUT.saturating_sub(FAIL_FAST_TIMEOUT))
                        .map_err(|e| self.noted(DbError::from_pool(e)))
                }
            }
        };
        let waited = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.checkouts.0.fetch_add(1, Ordering::Relaxed);
        self.checkouts.1.fetch_add(waited, Ordering::Relaxed);
        pooled
    }

    /// Passes `e` on, remembering an unreachable database.
    fn noted(&self, e: DbError) -> DbError {
        if matches!(e, DbError::Unavailable) {
            self.health.note_failure();
        }
        e
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
    /// they were last measured (cheap when nothing changed); the server calls it every ten
    /// seconds. See [`Database::refresh_statistics`].
    pub fn optimize(&self) -> Result<(), DbError> {
        let analyzed = self.refresh_statistics()?;
        if !analyzed.is_empty() {
            log::info!("planner statistics refreshed: {}", analyzed.join(", "));
        }
        Ok(())
    }

    /// Checks that the database answers (`SELECT 1`).
    pub fn ping(&self) -> Result<(), DbError> {
        self.read(|c| {
            run!(c, |c| diesel::sql_query("SELECT 1").execute(c))?;
            Ok(())
        })
    }

    /// Runs `f` on a pooled connection without a transaction; for reads.
    /// A read on a connection the database closed (it restarted since the connection was
    /// opened) is repeated once on a checked one: reads have no effect to lose or repeat.
    pub(crate) fn read<T>(
        &self,
        mut f: impl FnMut(&mut Conn<'_>) -> TxResult<T>,
    ) -> Result<T, DbError> {
        let mut attempt = || {
            let mut pooled = self.pooled()?;
            let result = match &mut pooled {
                Pooled::Pg(pg) => f(&mut Conn::Pg(pg)),
                Pooled::Lite(lite) => f(&mut Conn::Lite(lite)),
            };
            result.map_err(|e| self.noted(DbError::from(e)))
        };
        match attempt() {
            Err(DbError::Unavailable) => attempt(),
            other => other,
        }
    }

    /// Sets where committed changes are reported (once per pool; later calls are ignored and
    /// answer false).
    pub fn set_change_sink(&self, sink: Arc<dyn ChangeSink>) -> bool {
        self.sink.set(sink)
    }

    /// The URL of the PostgreSQL server, `None` on SQLite.
    pub(crate) fn postgres_url(&self) -> Option<&str> {
        self.pg_url.as_deref()
    }

    /// On PostgreSQL, starts hearing the changes other processes commit (on a connection of
    /// its own) and hands them to `sink`; `None` on SQLite, whose writes other processes
    /// cannot announce.
    pub fn start_change_feed(
        &self,
        sink: Arc<dyn ChangeSink>,
    ) -> std::io::Result<Option<ChangeFeed>> {
        match &self.pg_url {
            Some(url) => ChangeFeed::start(url, sink).map(Some),
            None => Ok(None),
        }
    }

    /// Runs `f` in a write transaction, again when it lost a race with a concurrent one.
    /// SQLite transactions begin IMMEDIATE: the write lock is taken up front, so concurrent
    /// writers wait on the busy timeout instead of failing when a read lock would be upgraded.
    ///
    /// `changes` names what the write may change for cached reads. On PostgreSQL they are
    /// sent with `NOTIFY` inside the transaction, so other processes hear of them exactly
    /// when the write commits; this process's sink hears of them right after the commit (and
    /// after a failure too, which costs a few cache misses at most).
    pub(crate) fn write<T>(
        &self,
        changes: &[Change],
        mut f: impl FnMut(&mut Conn<'_>) -> TxResult<T>,
    ) -> Result<T, DbError> {
        let payload = encode_payload(changes);
        let result = self
            .write_raw(Retry::Conflicts, |c| {
                let value = f(c)?;
                notify(c, &payload)?;
                Ok(value)
            })
            .map_err(DbError::from);
        self.report(changes);
        result
    }

    /// Tells this process's sink about committed changes.
    pub(crate) fn report(&self, changes: &[Change]) {
        if let (Some(sink), false) = (self.sink.get(), changes.is_empty()) {
            sink.changed(changes);
        }
    }

    /// A write transaction that only adds rows or bumps counters (download counts, token
    /// use, sign-in times): nothing a cache keeps goes stale, so nobody is told.
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
        let deadline = Instant::now() + SQLITE_WRITE_WAIT;
        let _writer = match self.backend() {
            Backend::Sqlite => Some(
                self.sqlite_writer
                    .enter(deadline)
                    .ok_or(TxError::Db(DbError::Locked))?,
            ),
            Backend::Postgres => None,
        };
        let mut pooled = self.pooled()?;
        if let Pooled::Lite(lite) = &mut pooled {
            // SQLite's own wait for another process's lock gets what is left of the deadline.
            let left = deadline
                .saturating_duration_since(Instant::now())
                .as_millis();
            lite.batch_execute(&format!("PRAGMA busy_timeout = {};", left.max(1)))?;
        }
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
                Err(e) => {
                    if e.is_unavailable() {
                        self.health.note_failure();
                    }
                    return Err(e);
                }
                ok => return ok,
            }
        }
    }

    /// Runs `f` on a PostgreSQL connection outside any transaction; `None` on SQLite. For
    /// one statement, which PostgreSQL makes atomic by itself without the `BEGIN` and
    /// `COMMIT` round trips; it is not retried.
    pub(crate) fn pg_single_statement<T>(
        &self,
        f: impl FnOnce(&mut PgConnection) -> TxResult<T>,
    ) -> Option<TxResult<T>> {
        if self.backend() != Backend::Postgres {
            return None;
        }
        let mut pooled = match self.pooled() {
            Ok(pooled) => pooled,
            Err(e) => return Some(Err(e.into())),
        };
        let Pooled::Pg(pg) = &mut pooled else {
            return None;
        };
        let result = f(pg);
        if matches!(&result, Err(e) if e.is_unavailable()) {
            self.health.note_failure();
        }
        Some(result)
    }
}

/// Sends `payload` on the changes channel from inside the current transaction (PostgreSQL
/// delivers it at commit); nothing on SQLite, whose only process is told directly.
pub(crate) fn notify(c: &mut Conn<'_>, payload: &str) -> TxResult<()> {
    if let (Conn::Pg(pg), false) = (c, payload.is_empty()) {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<diesel::sql_types::Text, _>(CHANGES_CHANNEL)
            .bind::<diesel::sql_types::Text, _>(payload)
            .execute(&mut **pg)?;
    }
    Ok(())
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

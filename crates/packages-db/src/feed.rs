//! The feed of other processes' changes on PostgreSQL: a thread with its own connection
//! (not one from the pool: `LISTEN` belongs to the session) that hears the `NOTIFY`s every
//! write sends at commit and hands them to a [`ChangeSink`].
//!
//! PostgreSQL keeps no notification for a listener that is not connected, so the sink is
//! told when the connection breaks (it must stop trusting what it caches) and when it is
//! back (what changed in between was not heard).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::changes::{decode_payload, Change, ChangeSink, CHANGES_CHANNEL};

/// The `application_name` of feed connections, so that operators (and tests) can tell
/// them apart in `pg_stat_activity`.
pub(crate) const APPLICATION_NAME: &str = "forge-changes";

/// How often the connection is asked for notifications that arrived. The libpq call behind
/// it never blocks, so this bounds how late a change is heard.
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// How often an idle connection is checked with a query, so a broken one is noticed even
/// when nothing is written.
const PING_INTERVAL: Duration = Duration::from_secs(1);
/// Pauses between attempts to reconnect: the first is short, the others grow to the last.
const RECONNECT_FIRST: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// A running feed; stopped when dropped.
pub struct ChangeFeed {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ChangeFeed {
    /// Starts listening on `url` (a PostgreSQL URL) in a thread of its own. The sink is told
    /// [`ChangeSink::feed_restored`] each time the connection is (re)established.
    pub fn start(url: &str, sink: Arc<dyn ChangeSink>) -> std::io::Result<ChangeFeed> {
        let stop = Arc::new(AtomicBool::new(false));
        let url = url.to_owned();
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("forge-changes".into())
            .spawn(move || run(&url, &*sink, &stopping))?;
        Ok(ChangeFeed {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run(url: &str, sink: &dyn ChangeSink, stop: &AtomicBool) {
    let mut pause = RECONNECT_FIRST;
    let mut failures = 0u32;
    while !stop.load(Ordering::Acquire) {
        match listen(url) {
            Ok(mut conn) => {
                if failures > 0 {
                    log::info!("change feed reconnected");
                }
                failures = 0;
                pause = RECONNECT_FIRST;
                sink.feed_restored();
                let reason = relay(&mut conn, sink, stop);
                if stop.load(Ordering::Acquire) {
                    break;
                }
                sink.feed_lost();
                log::warn!("change feed lost ({reason}); caching is off until it is back");
            }
            Err(e) => {
                failures += 1;
                // The first failure is worth a warning; a long outage should not flood the log.
                if failures == 1 {
                    log::warn!("change feed cannot connect: {e}");
                } else {
                    log::debug!("change feed cannot connect (attempt {failures}): {e}");
                }
            }
        }
        sleep_unless_stopped(pause, stop);
        pause = (pause * 2).min(RECONNECT_MAX);
    }
}

/// A new connection that listens on the changes channel.
fn listen(url: &str) -> Result<PgConnection, String> {
    let mut conn = PgConnection::establish(url).map_err(|e| e.to_string())?;
    conn.batch_execute(&format!(
        "SET application_name = '{APPLICATION_NAME}'; LISTEN {CHANGES_CHANNEL}"
    ))
    .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Hands notifications to the sink until the connection fails or `stop` is set; returns
/// why it ended.
fn relay(conn: &mut PgConnection, sink: &dyn ChangeSink, stop: &AtomicBool) -> String {
    let mut last_ping = Instant::now();
    let mut changes: Vec<Change> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        let mut unknown = false;
        for notification in conn.notifications_iter() {
            match notification {
                Ok(n) => {
                    for change in decode_payload(&n.payload) {
                        match change {
                            Some(c) => changes.push(c),
                            None => unknown = true,
                        }
                    }
                }
                Err(e) => return e.to_string(),
            }
        }
        if unknown {
            sink.changed_unknown();
        }
        if !changes.is_empty() {
            sink.changed(&changes);
            changes.clear();
        }
        if last_ping.elapsed() >= PING_INTERVAL {
            if let Err(e) = conn.batch_execute("SELECT 1") {
                return e.to_string();
            }
            last_ping = Instant::now();
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    "stopped".into()
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let deadline = Instant::now() + total;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}

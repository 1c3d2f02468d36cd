//! Background work on its own thread at a fixed interval.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use std::sync::Arc;

use packages_api::metrics::Metrics;
use packages_db::{Database, Job};

/// A thread that runs a job every interval until stopped.
pub struct Periodic {
    stop_tx: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Periodic {
    /// Runs `job` right away (when `at_start`), then every `interval`; after a stop request
    /// `job` runs once more when `at_stop`, so nothing gathered in memory is left behind.
    pub fn start(
        name: &str,
        interval: Duration,
        at_start: bool,
        at_stop: bool,
        mut job: impl FnMut() + Send + 'static,
    ) -> std::io::Result<Periodic> {
        let (stop_tx, stop_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                if at_start {
                    job();
                }
                // A stop request or a dropped sender ends the loop.
                while let Err(RecvTimeoutError::Timeout) = stop_rx.recv_timeout(interval) {
                    job();
                }
                if at_stop {
                    job();
                }
            })?;
        Ok(Periodic { stop_tx, thread })
    }

    /// Stops the thread after the run in progress (and the final run, if asked for).
    pub fn stop(self) {
        let _ = self.stop_tx.send(());
        let _ = self.thread.join();
    }
}

/// Wraps `job` so that of all processes on the database only one runs it at a time: the
/// others skip their turn (PostgreSQL advisory lock; see [`Database::run_exclusive`]).
pub fn one_process_at_a_time(
    db: Database,
    kind: Job,
    mut job: impl FnMut() + Send + 'static,
) -> impl FnMut() + Send + 'static {
    move || match db.run_exclusive(kind, &mut job) {
        Ok(Some(())) => {}
        Ok(None) => log::debug!("{kind:?} skipped: another process is running it"),
        Err(e) => log::warn!("{kind:?} skipped: {e}"),
    }
}

/// Starts a job that at most one process on the database runs at a time: right after
/// start-up, then every `interval`, on a thread called `thread`. Each run's duration and the
/// number of items `run` reports removed go to the job metrics under `label`.
pub fn start_exclusive_job(
    thread: &str,
    label: &'static str,
    db: Database,
    kind: Job,
    interval: Duration,
    metrics: Arc<Metrics>,
    mut run: impl FnMut() -> u64 + Send + 'static,
) -> std::io::Result<Periodic> {
    let job = move || {
        let started = std::time::Instant::now();
        let removed = run();
        metrics.job_ran(label, started.elapsed().as_secs_f64(), removed);
    };
    Periodic::start(
        thread,
        interval,
        true,
        false,
        one_process_at_a_time(db, kind, job),
    )
}

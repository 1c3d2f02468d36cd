//! The background sweep: removes content no file refers to once it is older than the grace
//! period, and package rows left without versions.
//!
//! Deletes never remove content synchronously: a download that started before the delete
//! keeps reading, and an upload of the same bytes can still claim the content. The grace
//! period covers both.

use std::sync::Arc;

use packages_api::metrics::Metrics;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use packages_core::{BlobStore, StorageError};
use packages_db::Database;

use crate::periodic::Periodic;

/// Upload leftovers (from a crash mid-upload) older than this are removed.
const STALE_UPLOAD_AGE: Duration = Duration::from_secs(24 * 3600);
/// Unreferenced blob rows handled per database round trip.
const BATCH: i64 = 500;

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub blobs_removed: u64,
    pub orphan_files_removed: u64,
    pub stale_uploads_removed: u64,
    pub empty_packages_removed: u64,
}

/// Runs one sweep.
pub fn run_once(
    db: &Database,
    store: &dyn BlobStore,
    grace: Duration,
) -> Result<SweepReport, String> {
    let mut report = SweepReport::default();
    let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(UNIX_EPOCH);
    let cutoff_unix = cutoff
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);

    let mut last_seen = None;
    loop {
        // Rows carry whole seconds: a blob of the cutoff second itself is old enough.
        let blobs = db
            .unreferenced_blobs(cutoff_unix + 1, BATCH)
            .map_err(|e| e.to_string())?;
        if blobs.is_empty() || blobs.last().map(|b| b.id) == last_seen {
            break;
        }
        last_seen = blobs.last().map(|b| b.id);
        for blob in &blobs {
            if !db
                .delete_blob_if_unreferenced(blob.id)
                .map_err(|e| e.to_string())?
            {
                continue;
            }
            if remove_unless_referenced(db, store, &blob.hash_sha256)? {
                report.blobs_removed += 1;
            }
        }
        if (blobs.len() as i64) < BATCH {
            break;
        }
    }

    // Content without any row: left by an upload whose commit failed after the content was
    // put in place.
    for key in store.keys_older_than(cutoff).map_err(|e| e.to_string())? {
        if db
            .blob_by_sha256(&key)
            .map_err(|e| e.to_string())?
            .is_none()
            && remove_unless_referenced(db, store, &key)?
        {
            report.orphan_files_removed += 1;
        }
    }

    let stale_cutoff = SystemTime::now()
        .checked_sub(STALE_UPLOAD_AGE)
        .unwrap_or(UNIX_EPOCH);
    report.stale_uploads_removed = store
        .remove_stale_uploads(stale_cutoff)
        .map_err(|e| e.to_string())? as u64;
    report.empty_packages_removed = db
        .delete_packages_without_versions()
        .map_err(|e| e.to_string())?;
    Ok(report)
}

fn remove_unless_referenced(
    db: &Database,
    store: &dyn BlobStore,
    sha256: &str,
) -> Result<bool, String> {
    let mut referenced = || {
        db.blob_by_sha256(sha256)
            .map(|b| b.is_some())
            .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))
    };
    store
        .remove(sha256, &mut referenced)
        .map_err(|e| e.to_string())
}

/// Starts the sweep on its own thread: right after start-up, then every `interval`.
pub fn start_sweeper(
    db: Database,
    store: Arc<dyn BlobStore>,
    grace: Duration,
    interval: Duration,
    metrics: Arc<Metrics>,
) -> std::io::Result<Periodic> {
    Periodic::start("forge-sweep", interval, true, false, move || {
        let started = std::time::Instant::now();
        let removed = match run_once(&db, &*store, grace) {
            Ok(report) => {
                if report != SweepReport::default() {
                    log::info!("sweep: {report:?}");
                }
                report.blobs_removed
                    + report.orphan_files_removed
                    + report.stale_uploads_removed
                    + report.empty_packages_removed
            }
            Err(e) => {
                log::warn!("sweep failed: {e}");
                0
            }
        };
        metrics.job_ran("sweep", started.elapsed().as_secs_f64(), removed);
    })
}

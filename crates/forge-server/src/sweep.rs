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
use packages_db::{Database, Job};

use crate::periodic::{start_exclusive_job, Periodic};

/// Upload leftovers (from a crash mid-upload) older than this are removed.
const STALE_UPLOAD_AGE: Duration = Duration::from_secs(24 * 3600);
/// Unreferenced blob rows handled per database round trip.
const BATCH: i64 = 500;
/// Stored keys looked at per page (and per database query) when looking for orphans.
const KEY_PAGE: usize = 1000;

/// What one sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub blobs_removed: u64,
    pub orphan_files_removed: u64,
    pub stale_uploads_removed: u64,
    pub empty_packages_removed: u64,
    pub expired_sessions_removed: u64,
    pub expired_uploads_removed: u64,
    /// Files of formats' staging versions past the grace period (see `FormatRules::staging`).
    pub staged_files_removed: u64,
    /// Internal versions nothing references any more, past the grace period.
    pub internal_versions_removed: u64,
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

    // Staged content and unreferenced internal versions go first, so that content they
    // alone held is swept in this same run once its own grace period is over.
    for rules in crate::formats::production().types().iter() {
        if let Some(staging) = rules.staging() {
            let (files, versions) = db
                .remove_stale_internal(
                    rules.package_type(),
                    staging.version,
                    // Whole seconds, as for blobs below: the cutoff second is old enough.
                    cutoff_unix + 1,
                    staging.keeps_property,
                )
                .map_err(|e| e.to_string())?;
            report.staged_files_removed += files as u64;
            report.internal_versions_removed += versions as u64;
        }
    }

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
            if remove_unless_referenced(db, store, blob.store_key())? {
                report.blobs_removed += 1;
            }
        }
        if (blobs.len() as i64) < BATCH {
            break;
        }
    }

    report.orphan_files_removed = remove_orphans(db, store, cutoff)?;

    let stale_cutoff = SystemTime::now()
        .checked_sub(STALE_UPLOAD_AGE)
        .unwrap_or(UNIX_EPOCH);
    report.stale_uploads_removed = store
        .remove_stale_uploads(stale_cutoff)
        .map_err(|e| e.to_string())? as u64;
    report.empty_packages_removed = db
        .delete_packages_without_versions()
        .map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    report.expired_sessions_removed = db.delete_expired_sessions(now).map_err(|e| e.to_string())?;
    // Resumable uploads past their expiry go with their parts and pending files.
    report.expired_uploads_removed = packages_service::resumable::remove_expired(db, store)?;
    Ok(report)
}

/// Removes content without any row (left by an upload whose commit failed after the content
/// was put in place) written before `cutoff`. Pages through the store's keys: one page in
/// memory and one query per page to learn which keys rows use.
fn remove_orphans(db: &Database, store: &dyn BlobStore, cutoff: SystemTime) -> Result<u64, String> {
    let mut removed = 0;
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list(after.as_deref(), KEY_PAGE)
            .map_err(|e| e.to_string())?;
        let old: Vec<String> = page
            .keys
            .into_iter()
            .filter(|k| k.modified < cutoff)
            .map(|k| k.key)
            .collect();
        let in_use = db.blob_keys_in_use(&old).map_err(|e| e.to_string())?;
        for key in old.iter().filter(|k| !in_use.contains(*k)) {
            if remove_unless_referenced(db, store, key)? {
                removed += 1;
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(removed),
        }
    }
}

fn remove_unless_referenced(
    db: &Database,
    store: &dyn BlobStore,
    key: &str,
) -> Result<bool, String> {
    let mut referenced = || {
        db.blob_key_in_use(key)
            .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))
    };
    store
        .remove(key, &mut referenced)
        .map_err(|e| e.to_string())
}

/// Starts the sweep on its own thread: right after start-up, then every `interval`, skipped
/// while another process on the same database is sweeping.
pub fn start_sweeper(
    db: Database,
    store: Arc<dyn BlobStore>,
    grace: Duration,
    interval: Duration,
    metrics: Arc<Metrics>,
) -> std::io::Result<Periodic> {
    let exclusive_db = db.clone();
    let run = move || match run_once(&db, &*store, grace) {
        Ok(report) => {
            if report != SweepReport::default() {
                log::info!("sweep: {report:?}");
            }
            report.blobs_removed
                + report.orphan_files_removed
                + report.stale_uploads_removed
                + report.empty_packages_removed
                + report.expired_uploads_removed
                + report.staged_files_removed
                + report.internal_versions_removed
        }
        Err(e) => {
            log::warn!("sweep failed: {e}");
            0
        }
    };
    start_exclusive_job(
        "forge-sweep",
        "sweep",
        exclusive_db,
        Job::Sweep,
        interval,
        metrics,
        run,
    )
}

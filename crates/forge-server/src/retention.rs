//! The background job that applies the enabled package cleanup rules.
//!
//! Removals go through the normal version delete (rows only; cached reads dropped on every
//! instance); the sweep frees the content once nothing refers to it. Of all processes on one
//! database only one applies the rules at a time.

use std::sync::Arc;
use std::time::Duration;

use packages_api::metrics::Metrics;
use packages_db::{Database, Job};
use packages_service::cleanup_rules;

use crate::periodic::{start_exclusive_job, Periodic};

/// Starts the job on its own thread: right after start-up, then every `interval`.
pub fn start_rule_runner(
    db: Database,
    interval: Duration,
    metrics: Arc<Metrics>,
) -> std::io::Result<Periodic> {
    let exclusive_db = db.clone();
    let run = move || match cleanup_rules::apply_enabled(&db) {
        Ok(report) => {
            if !report.removed.is_empty() || !report.failed.is_empty() {
                log::info!(
                    "cleanup rules: {} applied, {} versions removed, {} failed",
                    report.rules,
                    report.removed.len(),
                    report.failed.len()
                );
            }
            report.removed.len() as u64
        }
        Err(e) => {
            log::warn!("cleanup rules not applied: {e}");
            0
        }
    };
    start_exclusive_job(
        "forge-cleanup-rules",
        "cleanup-rules",
        exclusive_db,
        Job::CleanupRules,
        interval,
        metrics,
        run,
    )
}

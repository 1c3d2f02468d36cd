//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format.
//!
//! prometheus-client (the Prometheus project's own Rust client) rather than `metrics` with
//! its exporter: it has no HTTP server or background thread of its own (we already have
//! both), few dependencies, and typed label sets. Values that already exist elsewhere (cache
//! statistics, the connection pool, the row counts the statistics job refreshes) are read at
//! scrape time by a collector instead of being copied into metrics on every change.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::request::RequestContext;
use packages_db::Database;
use packages_service::cache::ReadCache;
use std::borrow::Cow;
use std::net::IpAddr;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Cow<'static, str>,
    method: Cow<'static, str>,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Cow<'static, str>,
    method: Cow<'static, str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: &'static str,
}

/// Row counts and stored bytes, refreshed by a background job rather than per scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inventory {
    pub owners: i64,
    pub packages: i64,
    pub versions: i64,
    pub files: i64,
    pub stored_bytes: i64,
}

/// What the access log and the metrics learn about one finished request.
#[derive(Debug)]
pub struct Finished<'a> {
    pub ctx: &'a RequestContext,
    pub method: &'a str,
    pub path: &'a str,
    /// Static for routes the server declares: no allocation per request.
    pub route: Cow<'static, str>,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub seconds: f64,
    pub client: Option<IpAddr>,
}

/// A method as a label; the common ones without allocating on every request.
fn method_label(method: &str) -> Cow<'static, str> {
    const COMMON: [&str; 7] = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"];
    match COMMON.iter().find(|m| **m == method) {
        Some(m) => Cow::Borrowed(m),
        None => Cow::Owned(method.to_owned()),
    }
}

/// Every metric of one server.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    bytes_received: Counter,
    bytes_sent: Counter,
    uploads_in_progress: Gauge,
    blob_ops: Family<OpLabels, Counter>,
    job_runs: Family<JobLabels, Counter>,
    job_seconds: Family<JobLabels, Histogram>,
    job_removed: Family<JobLabels, Counter>,
    inventory: Arc<InventoryCells>,
}

#[derive(Debug, Default)]
struct InventoryCells {
    known: AtomicU64,
    owners: AtomicI64,
    packages: AtomicI64,
    versions: AtomicI64,
    files: AtomicI64,
    stored_bytes: AtomicI64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// The metrics of a server over `db` and `cache`; `login_refusals` counts password
    /// attempts the login limits refused.
    pub fn new(
        db: Database,
        cache: Arc<ReadCache>,
        login_refusals: Arc<packages_service::limiter::LoginRefusals>,
    ) -> Self {
        let mut registry = Registry::with_prefix("forge");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route template, method and status",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.5, 12))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time from request to the end of the response body",
            durations.clone(),
        );
        let bytes_received = Counter::default();
        registry.register(
            "http_received_bytes",
            "Request body bytes received",
            bytes_received.clone(),
        );
        let bytes_sent = Counter::default();
        registry.register(
            "http_sent_bytes",
            "Response body bytes sent",
            bytes_sent.clone(),
        );
        let uploads_in_progress = Gauge::default();
        registry.register(
            "uploads_in_progress",
            "Package uploads being received",
            uploads_in_progress.clone(),
        );
        let blob_ops = Family::<OpLabels, Counter>::default();
        registry.register(
            "blob_store_operations",
            "Blob store operations by operation and outcome",
            blob_ops.clone(),
        );
        let job_runs = Family::<JobLabels, Counter>::default();
        registry.register("job_runs", "Background job runs", job_runs.clone());
        let job_seconds = Family::<JobLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 4.0, 10))
        });
        registry.register(
            "job_duration_seconds",
            "Background job run time",
            job_seconds.clone(),
        );
        let job_removed = Family::<JobLabels, Counter>::default();
        registry.register(
            "job_removed_items",
            "Items (blobs, packages, versions) background jobs removed",
            job_removed.clone(),
        );
        let inventory = Arc::new(InventoryCells::default());
        registry.register_collector(Box::new(ScrapeTime {
            db,
            cache,
            inventory: inventory.clone(),
            login_refusals,
        }));
        Metrics {
            registry: Mutex::new(registry),
            requests,
            durations,
            bytes_received,
            bytes_sent,
            uploads_in_progress,
            blob_ops,
            job_runs,
            job_seconds,
            job_removed,
            inventory,
        }
    }

    /// Counts a finished request.
    pub fn request_finished(&self, f: &Finished<'_>) {
        let method = method_label(f.method);
        self.requests
            .get_or_create(&RequestLabels {
                route: f.route.clone(),
                method: method.clone(),
                status: f.status,
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                route: f.route.clone(),
                method,
            })
            .observe(f.seconds);
        self.bytes_received.inc_by(f.bytes_in);
        self.bytes_sent.inc_by(f.bytes_out);
    }

    /// Counts an upload as in progress until the guard is dropped.
    pub fn upload_started(self: &Arc<Self>) -> UploadGuard {
        self.uploads_in_progress.inc();
        UploadGuard(self.clone())
    }

    /// Counts a blob store operation.
    pub fn blob_op(&self, operation: &'static str, ok: bool) {
        let outcome = if ok { "ok" } else { "error" };
        self.blob_ops
            .get_or_create(&OpLabels { operation, outcome })
            .inc();
    }

    /// Records one run of a background job.
    pub fn job_ran(&self, job: &'static str, seconds: f64, removed: u64) {
        let labels = JobLabels { job };
        self.job_runs.get_or_create(&labels).inc();
        self.job_seconds.get_or_create(&labels).observe(seconds);
        self.job_removed.get_or_create(&labels).inc_by(removed);
    }

    /// Replaces the row counts shown by the next scrape.
    pub fn set_inventory(&self, inv: Inventory) {
        let cells = &self.inventory;
        cells.owners.store(inv.owners, Ordering::Relaxed);
        cells.packages.store(inv.packages, Ordering::Relaxed);
        cells.versions.store(inv.versions, Ordering::Relaxed);
        cells.files.store(inv.files, Ordering::Relaxed);
        cells
            .stored_bytes
            .store(inv.stored_bytes, Ordering::Relaxed);
        cells.known.store(1, Ordering::Release);
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }
}

/// Ends an upload's count in [`Metrics::upload_started`].
pub struct UploadGuard(Arc<Metrics>);

impl Drop for UploadGuard {
    fn drop(&mut self) {
        self.0.uploads_in_progress.dec();
    }
}

/// Values read when scraped.
struct ScrapeTime {
    db: Database,
    cache: Arc<ReadCache>,
    inventory: Arc<InventoryCells>,
    login_refusals: Arc<packages_service::limiter::LoginRefusals>,
}

impl std::fmt::Debug for ScrapeTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScrapeTime")
    }
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}

fn counter<N>(encoder: &mut DescriptorEncoder, name: &str, help: &str, v: N) -> std::fmt::Result
where
    ConstCounter<N>: EncodeMetric,
{
    let c = ConstCounter::new(v);
    c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)
}

impl Collector for ScrapeTime {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        let pool = self.db.pool_stats();
        gauge(
            e,
            "db_pool_max_connections",
            "Largest size of the database connection pool",
            i64::from(pool.max_size),
        )?;
        gauge(
            e,
            "db_pool_connections",
            "Open database connections",
            i64::from(pool.connections),
        )?;
        gauge(
            e,
            "db_pool_in_use",
            "Database connections in use",
            i64::from(pool.connections.saturating_sub(pool.idle)),
        )?;
        counter(
            e,
            "db_pool_checkouts",
            "Connections taken from the pool",
            pool.checkouts,
        )?;
        counter(
            e,
            "db_pool_wait_seconds",
            "Time spent waiting for a pooled connection",
            pool.wait_seconds,
        )?;

        counter(
            e,
            "login_refusals",
            "Password attempts refused by the password-guessing limits (429)",
            self.login_refusals.get(),
        )?;

        let mut family = e.encode_descriptor(
            "cache_requests",
            "Read cache look-ups by kind and result",
            None,
            MetricType::Counter,
        )?;
        for (kind, hits, misses) in self.cache.stats() {
            for (result, n) in [("hit", hits), ("miss", misses)] {
                let labels = [("kind", kind), ("result", result)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }

        let inv = &self.inventory;
        if inv.known.load(Ordering::Acquire) == 1 {
            let rows = [
                ("owners", "Users and organisations", &inv.owners),
                ("packages", "Packages", &inv.packages),
                ("versions", "Package versions", &inv.versions),
                ("files", "Package files", &inv.files),
                (
                    "stored_bytes",
                    "Bytes of distinct stored content",
                    &inv.stored_bytes,
                ),
            ];
            for (name, help, cell) in rows {
                gauge(e, name, help, cell.load(Ordering::Relaxed))?;
            }
        }
        Ok(())
    }
}

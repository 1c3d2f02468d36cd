//! `GET /metrics`: parsed with the Prometheus project's own OpenMetrics parser (Python
//! `prometheus-client`), with counters moving as requests are made.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use forge_e2e::{wait_until, Auth, Backend, TestServer, PASSWORD};

const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;

/// Samples: (name, labels) → value.
type Samples = BTreeMap<(String, BTreeMap<String, String>), f64>;

fn parse(text: &str) -> Samples {
    let mut child = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (scripts/test.sh puts the test environment on PATH)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write exposition");
    let out = child.wait_with_output().expect("parser");
    assert!(
        out.status.success(),
        "the exposition does not parse: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<(String, BTreeMap<String, String>, f64)> =
        serde_json::from_slice(&out.stdout).expect("parser output");
    rows.into_iter().map(|(n, l, v)| ((n, l), v)).collect()
}

fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .get(&(name.to_owned(), labels))
        .copied()
        .unwrap_or(0.0)
}

fn sum(samples: &Samples, name: &str) -> f64 {
    samples
        .iter()
        .filter(|((n, _), _)| n == name)
        .map(|(_, v)| v)
        .sum()
}

fn scrape(s: &TestServer, auth: &Auth) -> Samples {
    let r = s.get("/metrics", auth);
    assert_eq!(r.status, 200, "{}", r.describe());
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")),
        "{}",
        r.describe()
    );
    parse(&r.text())
}

const FILE_ROUTE: &str = "/api/packages/{owner}/generic/{name}/{version}/{file}";

fn counters_move_with_requests(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.metrics.token = forge_auth::Secret::new("scrape-secret");
        c.metrics.inventory_interval = Duration::from_millis(100);
    });
    let scraper = Auth::bearer("scrape-secret");
    assert_eq!(s.get("/metrics", &Auth::Anonymous).status, 401);
    assert_eq!(s.get("/metrics", &Auth::bearer("wrong")).status, 401);
    let before = scrape(&s, &scraper);

    s.create_user("meter", PASSWORD, false);
    let alice = Auth::basic("meter", PASSWORD);
    let path = "/api/packages/meter/generic/app/1.0/a.bin";
    assert_eq!(s.put(path, b"12345", &alice).status, 201);
    for _ in 0..2 {
        assert_eq!(s.get(path, &Auth::Anonymous).status, 200);
    }
    assert_eq!(
        s.get(
            "/api/packages/meter/generic/app/1.0/missing",
            &Auth::Anonymous
        )
        .status,
        404
    );

    let after = scrape(&s, &scraper);
    let requests = |samples: &Samples, method: &str, status: &str| {
        value(
            samples,
            "forge_http_requests_total",
            &[
                ("method", method),
                ("route", FILE_ROUTE),
                ("status", status),
            ],
        )
    };
    assert_eq!(
        requests(&after, "PUT", "201") - requests(&before, "PUT", "201"),
        1.0
    );
    assert_eq!(
        requests(&after, "GET", "200") - requests(&before, "GET", "200"),
        2.0
    );
    assert_eq!(
        requests(&after, "GET", "404") - requests(&before, "GET", "404"),
        1.0
    );
    let count = |samples: &Samples| {
        value(
            samples,
            "forge_http_request_duration_seconds_count",
            &[("method", "GET"), ("route", FILE_ROUTE)],
        )
    };
    assert_eq!(count(&after) - count(&before), 3.0);
    assert!(
        sum(&after, "forge_http_received_bytes_total")
            - sum(&before, "forge_http_received_bytes_total")
            >= 5.0
    );
    assert!(
        sum(&after, "forge_http_sent_bytes_total") - sum(&before, "forge_http_sent_bytes_total")
            >= 10.0
    );
    assert_eq!(value(&after, "forge_uploads_in_progress", &[]), 0.0);
    assert!(
        value(
            &after,
            "forge_blob_store_operations_total",
            &[("operation", "persist"), ("outcome", "ok")]
        ) >= 1.0
    );
    assert!(sum(&after, "forge_cache_requests_total") > sum(&before, "forge_cache_requests_total"));
    assert!(
        value(&after, "forge_db_pool_checkouts_total", &[])
            > value(&before, "forge_db_pool_checkouts_total", &[])
    );
    assert_eq!(value(&after, "forge_db_pool_max_connections", &[]), 8.0);
    assert!(value(&after, "forge_job_runs_total", &[("job", "sweep")]) >= 1.0);

    // The inventory is refreshed by a job, not per scrape.
    let mut last = Samples::new();
    let refreshed = wait_until(Duration::from_secs(20), || {
        last = scrape(&s, &scraper);
        value(&last, "forge_versions", &[]) == 1.0
    });
    assert!(refreshed, "inventory not refreshed");
    assert_eq!(value(&last, "forge_files", &[]), 1.0);
    assert_eq!(value(&last, "forge_packages", &[]), 1.0);
    assert_eq!(value(&last, "forge_owners", &[]), 1.0);
    assert_eq!(value(&last, "forge_stored_bytes", &[]), 5.0);
    assert!(value(&last, "forge_job_runs_total", &[("job", "inventory")]) >= 1.0);
}

fn open_without_a_token(backend: Backend) {
    let s = TestServer::start(backend);
    let samples = scrape(&s, &Auth::Anonymous);
    assert!(samples
        .keys()
        .any(|(n, _)| n == "forge_db_pool_connections"));
    let s = TestServer::start_with(backend, |c| c.metrics.enabled = false);
    assert_eq!(s.get("/metrics", &Auth::Anonymous).status, 404);
}

forge_e2e::backends!(counters_move_with_requests, open_without_a_token);

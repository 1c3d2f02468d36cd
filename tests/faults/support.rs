//! What the fault cases share: a private PostgreSQL cluster that a case may stop and start,
//! timing, and the invariants checked after every fault.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use forge_e2e::{free_port, Backend, Resp, TestServer};

/// True when running as root (needed for `chattr`, `mount`).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Reports a case that cannot run here; fails instead when `FORGE_FAULTS_REQUIRE_ALL=1`
/// (CI), so a green run never hides a skipped case.
pub fn skip(case: &str, why: &str) {
    if std::env::var("FORGE_FAULTS_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("{case} cannot run: {why}");
    }
    println!("skipped {case}: {why}");
}

/// Runs `f` and measures it.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let value = f();
    (value, start.elapsed())
}

/// Asserts the status, that the answer came within `within`, and that it says something.
#[track_caller]
pub fn answered(what: &str, (r, took): &(Resp, Duration), expected: u16, within: Duration) {
    assert_eq!(r.status, expected, "{what}: {}", r.describe());
    assert!(
        *took <= within,
        "{what}: answered {} after {took:?}, more than {within:?}",
        r.status
    );
    assert!(!r.text().trim().is_empty(), "{what}: no message");
}

/// Upload temporaries under the blob store: named ones, and unnamed ones the server (in
/// this process) holds open.
pub fn temp_files(s: &TestServer) -> Vec<PathBuf> {
    let tmp = s.upload_tmp_dir();
    let mut files = list(&tmp);
    files.extend(forge_e2e::unnamed_files_in(&tmp));
    files
}

fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Stored content (not temporaries): `<root>/xx/yy/<sha256>`.
pub fn content_files(s: &TestServer) -> Vec<PathBuf> {
    let tmp = s.upload_tmp_dir();
    s.files_on_disk()
        .into_iter()
        .filter(|p| !p.starts_with(&tmp))
        .collect()
}

/// Stored content without a row: local files named by a SHA-256 no blob row has, or S3
/// objects whose key no blob row records.
fn content_without_row(s: &TestServer) -> Vec<String> {
    if s.env.backend == Backend::S3 {
        let keys: Vec<String> = s
            .stored_items()
            .into_iter()
            .filter(|k| !k.starts_with("unfinished"))
            .collect();
        let used = s.db().blob_keys_in_use(&keys).expect("look up keys");
        return keys.into_iter().filter(|k| !used.contains(k)).collect();
    }
    content_files(s)
        .into_iter()
        .filter(|path| {
            let sha = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            !matches!(s.db().blob_by_sha256(sha), Ok(Some(_)))
        })
        .map(|p| p.display().to_string())
        .collect()
}

/// Pieces of content in the store (files or objects), uploads in progress left out.
fn stored_content(s: &TestServer) -> usize {
    if s.env.backend == Backend::S3 {
        return s.stored_items().len() - s.pending_uploads();
    }
    content_files(s).len()
}

/// Uploads in progress: temporary files, or unfinished S3 multipart uploads.
pub fn leftovers(s: &TestServer) -> usize {
    if s.env.backend == Backend::S3 {
        return s.pending_uploads();
    }
    temp_files(s).len()
}

/// True when [`assert_consistent`] would pass; for waiting on the sweep.
pub fn is_consistent(s: &TestServer) -> bool {
    leftovers(s) == 0 && content_without_row(s).is_empty() && s.blob_count() == stored_content(s)
}

/// No content without a blob row, no blob row without content, no upload left in progress.
#[track_caller]
pub fn assert_consistent(s: &TestServer) {
    assert_eq!(leftovers(s), 0, "uploads left in progress");
    assert_eq!(
        content_without_row(s),
        Vec::<String>::new(),
        "content without a row"
    );
    assert_eq!(
        s.blob_count(),
        stored_content(s),
        "blob rows and stored content differ"
    );
}

/// The directory holding `initdb` and `pg_ctl`, as `scripts/lib.sh` finds it.
fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.into_iter()
        .rev()
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

/// A PostgreSQL cluster of one case, on a free loopback port, removed on drop. Unlike the
/// shared test server it may be stopped while a registry uses it.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PgCluster {
    /// Creates and starts a cluster; `None` when PostgreSQL is not installed.
    pub fn start() -> Option<PgCluster> {
        let bin = pg_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("forge-faults-pg-")
            .tempdir()
            .expect("cluster directory");
        if is_root() {
            // initdb refuses to run as root.
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown of the cluster directory failed");
        }
        let cluster = PgCluster {
            dir,
            bin,
            port: free_port(),
        };
        let out = cluster
            .pg("initdb")
            .arg("-D")
            .arg(cluster.data())
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.resume();
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(exe);
            cmd
        } else {
            Command::new(exe)
        }
    }

    /// The URL of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the (stopped) cluster again on its port.
    pub fn resume(&self) {
        let out = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {} -h 127.0.0.1 -k {} -F -c max_connections=100",
                self.port,
                self.dir.path().display()
            ))
            .arg("start")
            .output()
            .expect("run pg_ctl start");
        assert!(
            out.status.success(),
            "PostgreSQL did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the cluster (fast shutdown: sessions are cut, as when the database goes away).
    pub fn stop(&self) {
        let out = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"])
            .output()
            .expect("run pg_ctl stop");
        assert!(
            out.status.success(),
            "PostgreSQL did not stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self
                .pg("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

/// Polls until `check` holds, failing with `what` after `timeout`.
#[track_caller]
pub fn eventually(what: &str, timeout: Duration, check: impl FnMut() -> bool) {
    assert!(
        forge_e2e::wait_until(timeout, check),
        "{what} within {timeout:?}"
    );
}

/// A PUT over a raw socket whose body is written on another thread, so an answer the server
/// gives before reading the whole body (and the reset that may follow) is still seen.
pub fn put_raw(
    s: &TestServer,
    path: &str,
    auth: &forge_e2e::Auth,
    body: Vec<u8>,
) -> forge_e2e::RawResponse {
    use std::io::Write;
    let mut stream = s.connect();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        auth.header_value().unwrap_or_default(),
        body.len()
    );
    let mut writer = stream.try_clone().expect("clone socket");
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&body);
    });
    let (_, response) = forge_e2e::read_final_response(&mut stream, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
    drop(stream);
    let _ = sender.join();
    response
}

//! A real S3 server for the tests: SeaweedFS (`weed mini`, which checks SigV4 signatures),
//! started once per test process on free loopback ports, with one bucket; each test gets a
//! prefix of its own.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use forge_server::config::{Config, StorageType};

/// Access key and secret of every test SeaweedFS.
pub const S3_ACCESS_KEY: &str = "forge-test-key";
pub const S3_SECRET_KEY: &str = "forge-test-secret";
/// The bucket created at start-up.
pub const S3_BUCKET: &str = "forge-e2e";

/// A running `weed mini`.
pub struct Seaweed {
    /// `http://127.0.0.1:<port>`
    pub endpoint: String,
    pub dir: PathBuf,
    pid: u32,
}

impl Seaweed {
    /// Starts SeaweedFS in `dir` and waits until its S3 API answers. The process is killed
    /// when the thread that started it ends (see [`shared_seaweed`] for a process-long one)
    /// or by [`Seaweed::stop`].
    pub fn start(dir: &Path) -> Result<Seaweed, String> {
        Self::start_on(dir, None)
    }

    /// Starts on the same ports as before (a restart after [`Seaweed::stop`]).
    pub fn start_on(dir: &Path, s3_port: Option<u16>) -> Result<Seaweed, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let ports: Vec<u16> = (0..12).map(|_| free_port()).collect();
        let s3 = s3_port.unwrap_or(ports[6]);
        let child = spawn_weed(dir, &ports, s3)?;
        let pid = child.id();
        // The child handle is not kept: the process is stopped by pid.
        std::mem::forget(child);
        let weed = Seaweed {
            endpoint: format!("http://127.0.0.1:{s3}"),
            dir: dir.to_owned(),
            pid,
        };
        weed.wait_ready(Duration::from_secs(60))?;
        Ok(weed)
    }

    /// The S3 port.
    pub fn s3_port(&self) -> u16 {
        self.endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let settings = packages_storage::S3Settings {
            endpoint: self.endpoint.clone(),
            bucket: S3_BUCKET.to_owned(),
            region: "us-east-1".to_owned(),
            access_key_id: S3_ACCESS_KEY.to_owned(),
            secret_access_key: packages_storage::s3::SecretKey::new(S3_SECRET_KEY),
            path_style: true,
            prefix: String::new(),
        };
        let store = packages_storage::S3BlobStore::new(&settings).map_err(|e| e.to_string())?;
        let deadline = Instant::now() + timeout;
        // The gateway answers before the bucket exists: wait for a signed look at the bucket.
        let mut last = String::new();
        while Instant::now() < deadline {
            match store.probe() {
                Ok(()) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "SeaweedFS not ready on {} in time: {last}",
            self.endpoint
        ))
    }

    /// Kills the process (an outage).
    pub fn stop(&self) {
        // SAFETY: signalling a pid this process started.
        unsafe {
            libc::kill(self.pid as i32, libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && Path::new(&format!("/proc/{}", self.pid)).exists() {
            let mut status = 0;
            // SAFETY: reaping our own child.
            unsafe {
                libc::waitpid(self.pid as i32, &mut status, libc::WNOHANG);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn spawn_weed(dir: &Path, ports: &[u16], s3: u16) -> Result<Child, String> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("weed");
    cmd.arg("mini")
        .arg(format!("-dir={}", dir.display()))
        .arg(format!("-bucket={S3_BUCKET}"))
        .arg("-ip=127.0.0.1")
        .arg("-ip.bind=127.0.0.1")
        .arg(format!("-master.port={}", ports[0]))
        .arg(format!("-master.port.grpc={}", ports[1]))
        .arg(format!("-volume.port={}", ports[2]))
        .arg(format!("-volume.port.grpc={}", ports[3]))
        .arg(format!("-filer.port={}", ports[4]))
        .arg(format!("-filer.port.grpc={}", ports[5]))
        .arg(format!("-s3.port={s3}"))
        .arg(format!("-s3.port.grpc={}", ports[7]))
        .arg(format!("-admin.port={}", ports[8]))
        .arg(format!("-admin.port.grpc={}", ports[9]))
        .arg(format!("-webdav.port={}", ports[10]))
        .arg(format!("-s3.port.iceberg={}", ports[11]))
        .arg("-s3.port.lance=0")
        .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(dir.join("weed.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        );
    // SAFETY: prctl only sets a flag of the child; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| {
        format!("cannot run weed (SeaweedFS; scripts/test-env.sh puts it on PATH): {e}")
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// The SeaweedFS shared by the tests of this process, started on first use by a thread
/// that lives as long as the process (the server dies with it), or why it could not start.
pub fn shared_seaweed() -> Result<&'static Seaweed, String> {
    static SHARED: OnceLock<Result<Seaweed, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("forge-e2e-weed-{}", std::process::id()));
            remove_stale_dirs();
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name("seaweedfs".into())
                .spawn(move || {
                    let _ = tx.send(Seaweed::start(&dir));
                    // The server is tied to this thread (PR_SET_PDEATHSIG): keep it alive.
                    loop {
                        std::thread::park();
                    }
                })
                .map_err(|e| e.to_string())?;
            rx.recv().map_err(|e| e.to_string())?
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The shared SeaweedFS for a scenario that needs a bucket besides its database backend, or
/// `None` (after saying the test is skipped) when it cannot start and
/// `FORGE_TEST_REQUIRE_S3=1` is not set.
pub fn seaweed_or_skip() -> Option<&'static Seaweed> {
    match shared_seaweed() {
        Ok(weed) => Some(weed),
        Err(e) if crate::require_s3() => {
            panic!("FORGE_TEST_REQUIRE_S3=1 but SeaweedFS is not available: {e}")
        }
        Err(e) => {
            println!("skipped: no SeaweedFS ({e})");
            None
        }
    }
}

/// Data directories of test processes that are gone.
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("forge-e2e-weed-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A prefix no other test of any process uses.
pub fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}-{}-{}/",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    )
}

/// Points `config` at `endpoint`'s test bucket under a fresh prefix.
pub fn use_s3(config: &mut Config, endpoint: &str) {
    config.storage.kind = StorageType::S3;
    config.storage.s3.endpoint = endpoint.to_owned();
    config.storage.s3.bucket = S3_BUCKET.to_owned();
    config.storage.s3.access_key_id = S3_ACCESS_KEY.to_owned();
    config.storage.s3.secret_access_key = S3_SECRET_KEY.into();
    config.storage.s3.prefix = unique_prefix();
}

//! Several `forge-server serve` processes (the real binary) on one database and one content
//! store, as behind a load balancer: one shared data directory, or (`Backend::S3`) one
//! SeaweedFS bucket with a data directory per instance. On SQLite, which one process serves,
//! a cluster has a single instance.

use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{agent, free_port, send, server_binary, wait_until, Auth, Backend, Resp, TestEnv};
use packages_db::Database;

/// How long an instance may take to answer its health check after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// One running server process.
pub struct Instance {
    child: Option<Child>,
    pub port: u16,
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    log: PathBuf,
    agent: ureq::Agent,
}

impl Instance {
    /// Sends one request; `path` starts with `/` and is already percent-encoded.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        send(
            &self.agent,
            method,
            &format!("{}{path}", self.base),
            auth,
            headers,
            body,
        )
    }

    pub fn put(&self, path: &str, body: &[u8], auth: &Auth) -> Resp {
        self.request("PUT", path, auth, &[], Some(body))
    }

    pub fn get(&self, path: &str, auth: &Auth) -> Resp {
        self.request("GET", path, auth, &[], None)
    }

    pub fn delete(&self, path: &str, auth: &Auth) -> Resp {
        self.request("DELETE", path, auth, &[], None)
    }

    /// Sends a JSON body with `method`.
    pub fn json(&self, method: &str, path: &str, auth: &Auth, body: &str) -> Resp {
        self.request(
            method,
            path,
            auth,
            &[("Content-Type", "application/json")],
            Some(body.as_bytes()),
        )
    }

    /// Opens a plain TCP connection, for requests cut off on purpose.
    pub fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).expect("connect to instance")
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// `kill -9`: the process gets no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What the process wrote to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn healthy(&self) -> bool {
        self.agent
            .get(&format!("{}/api/healthz", self.base))
            .timeout(Duration::from_secs(2))
            .call()
            .is_ok()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Instances sharing one database and one data directory.
pub struct Cluster {
    pub instances: Vec<Instance>,
    db: Database,
    // Last: the processes are gone before the directory and the database are removed.
    pub env: TestEnv,
}

impl Cluster {
    /// Starts `n` instances at once on a fresh database (so they also migrate together),
    /// with `env` added to each one's environment; one instance on SQLite.
    ///
    /// `Backend::S3` means PostgreSQL and one bucket (of the shared SeaweedFS) under a prefix
    /// of the cluster's own.
    pub fn start(backend: Backend, n: usize, env: &[(&str, &str)]) -> Cluster {
        let test_env = match backend {
            Backend::S3 => {
                let weed = crate::s3::shared_seaweed().unwrap_or_else(|e| panic!("SeaweedFS: {e}"));
                let mut on_pg = TestEnv::new(Backend::Postgres);
                crate::s3::use_s3(&mut on_pg.config, &weed.endpoint);
                on_pg
            }
            _ => TestEnv::new(backend),
        };
        let n = if backend == Backend::Sqlite { 1 } else { n };
        let extra_env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut instances: Vec<Instance> =
            (0..n).map(|i| spawn(&test_env, &extra_env, i)).collect();
        for (i, instance) in instances.iter_mut().enumerate() {
            if !wait_until(START_TIMEOUT, || instance.healthy()) {
                panic!("instance {i} did not become healthy:\n{}", instance.log());
            }
        }
        let db = Database::connect(&test_env.database_url(), 4)
            .unwrap_or_else(|e| panic!("test cannot open the cluster's database: {e}"));
        Cluster {
            instances,
            db,
            env: test_env,
        }
    }

    /// Instance `i`.
    pub fn at(&self, i: usize) -> &Instance {
        &self.instances[i % self.instances.len()]
    }

    /// The database as the instances see it.
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The shared data directory.
    pub fn data_dir(&self) -> &Path {
        &self.env.config.server.data_dir
    }

    /// Every key of the content store that no blob row uses (content left by an upload cut
    /// short would be one).
    pub fn unreferenced_keys(&self) -> Vec<String> {
        let store = forge_server::storage::open_store(&self.env.config)
            .unwrap_or_else(|e| panic!("open the content store: {e}"));
        let mut keys = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.list(after.as_deref(), 1000).expect("list the store");
            let listed: Vec<String> = page.keys.into_iter().map(|k| k.key).collect();
            let used = self.db.blob_keys_in_use(&listed).expect("keys in use");
            keys.extend(listed.into_iter().filter(|k| !used.contains(k)));
            match page.next {
                Some(next) => after = Some(next),
                None => return keys,
            }
        }
    }

    /// Whether the content store holds these bytes under any key.
    pub fn holds(&self, bytes: &[u8]) -> bool {
        let store = forge_server::storage::open_store(&self.env.config)
            .unwrap_or_else(|e| panic!("open the content store: {e}"));
        let mut after: Option<String> = None;
        loop {
            let page = store.list(after.as_deref(), 1000).expect("list the store");
            for key in page.keys {
                let Ok(reader) = store.open(&key.key, None) else {
                    continue; // removed since the listing
                };
                let (mut r, len): (Box<dyn std::io::Read>, u64) = match reader {
                    packages_core::BlobReader::File(f, len) => (Box::new(f), len),
                    packages_core::BlobReader::Stream(s, len) => (s, len),
                };
                let mut content = Vec::new();
                if len == bytes.len() as u64
                    && std::io::Read::read_to_end(&mut r, &mut content).is_ok()
                    && content == bytes
                {
                    return true;
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return false,
            }
        }
    }

    /// Unfinished multipart uploads in the bucket (none with a local store).
    pub fn pending_uploads(&self) -> usize {
        if self.env.config.storage.kind != forge_server::config::StorageType::S3 {
            return 0;
        }
        forge_server::storage::open_s3(&self.env.config)
            .and_then(|b| {
                b.unfinished_uploads()
                    .map_err(|e| forge_server::ServerError::StorageSetup(e.to_string()))
            })
            .unwrap_or_else(|e| panic!("multipart uploads: {e}"))
    }

    /// Creates a user through the admin operations.
    pub fn create_user(&self, name: &str, password: &str, admin: bool) {
        forge_server::admin::create_user(
            &self.env.config,
            name,
            password,
            &format!("{name}@example.com"),
            admin,
        )
        .unwrap_or_else(|e| panic!("create user {name}: {e}"));
    }

    /// Mints a personal access token through the admin operations.
    pub fn token(&self, username: &str, token_name: &str, scopes: &str) -> String {
        forge_server::admin::generate_access_token(&self.env.config, username, token_name, scopes)
            .unwrap_or_else(|e| panic!("generate token {token_name} for {username}: {e}"))
    }
}

/// Starts instance `i` on a free port.
fn spawn(env: &TestEnv, extra_env: &[(String, String)], i: usize) -> Instance {
    let port = free_port();
    let log = env.tmp.path().join(format!("instance-{i}-{port}.log"));
    let stderr = File::create(&log).expect("create instance log");
    let mut cmd = Command::new(server_binary());
    cmd.arg("serve")
        .env("FORGE_DATA_DIR", &env.config.server.data_dir)
        .env("FORGE_DATABASE_URL", env.database_url())
        .env("FORGE_LISTEN", format!("127.0.0.1:{port}"))
        .env("FORGE_BCRYPT_COST", "4")
        .env("FORGE_WORKERS", "2")
        .env("FORGE_DB_POOL_SIZE", "6")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    let config = &env.config;
    if config.storage.kind == forge_server::config::StorageType::S3 {
        // One bucket; the data directory (temporary files only) is the instance's own.
        let s3 = &config.storage.s3;
        cmd.env(
            "FORGE_DATA_DIR",
            env.tmp.path().join(format!("instance-{i}")),
        )
        .env("FORGE_STORAGE_TYPE", "s3")
        .env("FORGE_STORAGE_S3_ENDPOINT", &s3.endpoint)
        .env("FORGE_STORAGE_S3_BUCKET", &s3.bucket)
        .env("FORGE_STORAGE_S3_ACCESS_KEY_ID", &s3.access_key_id)
        .env(
            "FORGE_STORAGE_S3_SECRET_ACCESS_KEY",
            s3.secret_access_key.expose(),
        )
        .env("FORGE_STORAGE_S3_PREFIX", &s3.prefix);
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    Instance {
        child: Some(cmd.spawn().expect("start forge-server")),
        port,
        base: format!("http://127.0.0.1:{port}"),
        log,
        agent: agent(),
    }
}

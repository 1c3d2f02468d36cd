//! Harness for the end-to-end tests: starts a real server on a free loopback port with its own
//! data directory and database (a SQLite file, or a fresh PostgreSQL database), talks to it over
//! HTTP, and reads the database directly to check what was stored.
//!
//! Every scenario runs once per backend; see [`backends!`].

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use forge_server::config::Config;

pub mod cluster;
pub mod containers;
pub use packages_core::{AccessMode, Visibility};
pub use packages_db::UserChanges;

use packages_core::PackageType;
use packages_db::{Database, NewTeam, NewUser, Page, VersionFilter, PACKAGES_UNIT};
use sha2::Digest as _;

pub mod cargo;
pub mod cargo_clients;
pub mod npm;
pub mod npm_clients;
pub mod pypi;
pub mod single;

pub use forge_server;

pub mod web_client;
pub use packages_db;
pub use web_client::WebClient;

/// Password given to every user the tests create unless they say otherwise.
pub const PASSWORD: &str = "password";

/// How long any single HTTP exchange may take before the test fails instead of hanging.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// Which database the server under test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// SQLite metadata with the content in a SeaweedFS bucket ([`s3`]).
    S3,
}

pub mod s3;

/// Generates `sqlite::<name>` and `postgres::<name>` tests for each listed scenario function
/// (`fn name(backend: Backend)` in the invoking module).
#[macro_export]
macro_rules! backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    $crate::run_scenario($crate::Backend::Sqlite, stringify!($name), super::$name);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    $crate::run_scenario($crate::Backend::Postgres, stringify!($name), super::$name);
                }
            )*
        }
    };
}

/// Generates `s3::<name>` tests: each listed scenario again with the content in an S3
/// bucket (SeaweedFS started by the harness). Listed beside [`backends!`] for the scenarios
/// that concern stored content.
#[macro_export]
macro_rules! s3_backend {
    ($($name:ident),* $(,)?) => {
        mod s3 {
            $(
                #[test]
                fn $name() {
                    $crate::run_scenario($crate::Backend::S3, stringify!($name), super::$name);
                }
            )*
        }
    };
}

/// Runs one scenario on one backend. The PostgreSQL variant needs `FORGE_TEST_DATABASE_URL`;
/// without it the test reports that it was skipped, unless `FORGE_TEST_REQUIRE_POSTGRES=1`.
pub fn run_scenario(backend: Backend, name: &str, scenario: fn(Backend)) {
    if backend == Backend::Postgres && postgres_base_url().is_none() {
        if require_postgres() {
            panic!("FORGE_TEST_REQUIRE_POSTGRES=1 but FORGE_TEST_DATABASE_URL is not set");
        }
        println!("skipped: no PostgreSQL (set FORGE_TEST_DATABASE_URL)");
        return;
    }
    if backend == Backend::S3 {
        if let Err(e) = s3::shared_seaweed() {
            if require_s3() {
                panic!("FORGE_TEST_REQUIRE_S3=1 but SeaweedFS is not available: {e}");
            }
            println!("skipped: no SeaweedFS ({e})");
            return;
        }
    }
    scenario(backend);
    match backend {
        Backend::Postgres => record_postgres_run(name),
        Backend::S3 => append_marker("FORGE_TEST_S3_MARKER", name),
        Backend::Sqlite => {}
    }
}

pub(crate) fn require_s3() -> bool {
    std::env::var("FORGE_TEST_REQUIRE_S3").is_ok_and(|v| v.trim() == "1")
}

fn postgres_base_url() -> Option<String> {
    std::env::var("FORGE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

fn require_postgres() -> bool {
    std::env::var("FORGE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v.trim() == "1")
}

/// Appends the scenario's name to `FORGE_TEST_PG_MARKER` so CI can prove the PostgreSQL half
/// really ran rather than being skipped.
fn record_postgres_run(name: &str) {
    append_marker("FORGE_TEST_PG_MARKER", name);
}

/// Appends `line` to the file named by the environment variable `var`, if set. One short
/// `O_APPEND` write per line keeps parallel tests from interleaving.
pub fn append_marker(var: &str, line: &str) {
    let Ok(path) = std::env::var(var) else {
        return;
    };
    if path.is_empty() {
        return;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {var} {path}: {e}"));
    file.write_all(format!("{line}\n").as_bytes())
        .unwrap_or_else(|e| panic!("cannot write {var} {path}: {e}"));
}

/// A PostgreSQL database created for one test and dropped when it ends.
pub struct PgDatabase {
    base_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    /// Creates a fresh, empty database on the server named by `FORGE_TEST_DATABASE_URL`.
    pub fn create() -> PgDatabase {
        let base_url = postgres_base_url().expect("FORGE_TEST_DATABASE_URL is not set");
        let (url, name) =
            packages_db::testing::create_unique_postgres_database(&base_url, "forge_e2e")
                .unwrap_or_else(|e| panic!("cannot create a PostgreSQL test database: {e}"));
        PgDatabase {
            base_url,
            name,
            url,
        }
    }

    /// URL of the fresh database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(e) = packages_db::testing::drop_postgres_database(&self.base_url, &self.name) {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// A data directory and database for one test, not yet served.
pub struct TestEnv {
    pub backend: Backend,
    /// Holds the data directory; removed on drop.
    pub tmp: tempfile::TempDir,
    pub config: Config,
    // Dropped with the environment, which drops the database.
    _pg: Option<PgDatabase>,
}

impl TestEnv {
    /// A new empty data directory and database with the settings tests use (loopback on a
    /// free port, cheap bcrypt, two workers).
    pub fn new(backend: Backend) -> TestEnv {
        let tmp = tempfile::Builder::new()
            .prefix("forge-e2e-")
            .tempdir()
            .expect("create temporary data dir");
        let pg = match backend {
            Backend::Sqlite | Backend::S3 => None,
            Backend::Postgres => Some(PgDatabase::create()),
        };
        let database_url = pg.as_ref().map(|p| p.url().to_owned()).unwrap_or_default();
        let mut config = Config::new(tmp.path().join("data"), database_url);
        config.server.listen = "127.0.0.1:0".to_owned();
        // Cost 4 is bcrypt's minimum; the default would make every password check take ~50 ms.
        config.auth.bcrypt_cost = 4;
        config.server.workers = 2;
        // Enough for the racing tests; the default would hold 16 PostgreSQL connections per
        // server while several tests run at once.
        config.database.pool_size = 8;
        // Scenarios read download counters right after a GET; the batched mode has its own
        // test.
        config.database.download_count_flush = Duration::ZERO;
        if backend == Backend::S3 {
            let weed = s3::shared_seaweed().unwrap_or_else(|e| panic!("SeaweedFS: {e}"));
            s3::use_s3(&mut config, &weed.endpoint);
        }
        TestEnv {
            backend,
            tmp,
            config,
            _pg: pg,
        }
    }

    /// Like [`TestEnv::new`], on a PostgreSQL database the caller provides (and cleans up).
    pub fn on_postgres(url: &str) -> TestEnv {
        let mut env = TestEnv::new(Backend::Sqlite);
        env.backend = Backend::Postgres;
        env.config.database.url = forge_server::config::DatabaseUrl::new(url);
        env
    }

    /// The database URL tests and the server both use.
    pub fn database_url(&self) -> String {
        self.config.effective_database_url()
    }

    /// Starts the in-process server on this environment.
    pub fn start(self) -> TestServer {
        let running = forge_server::start_with_formats(self.config.clone(), formats())
            .unwrap_or_else(|e| panic!("server did not start: {e}"));
        let addr = running.addr();
        let db = Database::connect(&self.database_url(), 4)
            .unwrap_or_else(|e| panic!("test cannot open the server's database: {e}"));
        TestServer {
            running: Some(running),
            addr,
            base: format!("http://{addr}"),
            agent: agent(),
            db: Some(db),
            env: self,
        }
    }
}

/// Sends one request to `url`; any status is an answer, a transport error fails the test.
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    auth: &Auth,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut req = agent.request(method, url);
    if let Some(value) = auth.header_value() {
        req = req.set("Authorization", &value);
    }
    for (name, value) in headers {
        req = req.set(name, value);
    }
    let result = match body {
        Some(bytes) => req.send_bytes(bytes),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: transport error: {e}"),
    };
    Resp::from_ureq(method, response)
}

/// An HTTP client with the tests' settings.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(HTTP_TIMEOUT)
        // Redirects are part of what is tested, so they are never followed.
        .redirects(0)
        .build()
}

/// A running server plus a direct handle on its database.
pub struct TestServer {
    running: Option<forge_server::Running>,
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub base: String,
    agent: ureq::Agent,
    db: Option<Database>,
    // Declared last so the server and connections are gone before the directory and the
    // PostgreSQL database are removed.
    pub env: TestEnv,
}

impl TestServer {
    /// Starts a server with the default test settings.
    pub fn start(backend: Backend) -> TestServer {
        TestEnv::new(backend).start()
    }

    /// Starts a server after letting `configure` change the settings.
    pub fn start_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestServer {
        let mut env = TestEnv::new(backend);
        configure(&mut env.config);
        env.start()
    }

    pub fn config(&self) -> &Config {
        &self.env.config
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.env.config.server.data_dir
    }

    /// Root of the blob store.
    /// Everything the blob store holds: content and uploads in progress (local: every file
    /// under the store's directory; S3: every object under the test's prefix and every
    /// unfinished multipart upload).
    pub fn stored_items(&self) -> Vec<String> {
        if self.env.backend != Backend::S3 {
            return files_under(&self.packages_dir())
                .iter()
                .map(|p| p.display().to_string())
                .collect();
        }
        let store = self.s3_store();
        let mut items = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = packages_core::BlobStore::list(&store, after.as_deref(), 1000)
                .unwrap_or_else(|e| panic!("listing the bucket: {e}"));
            items.extend(page.keys.into_iter().map(|k| k.key));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let unfinished = store
            .unfinished_uploads()
            .unwrap_or_else(|e| panic!("listing multipart uploads: {e}"));
        items.extend((0..unfinished).map(|i| format!("unfinished multipart upload {i}")));
        items
    }

    /// Uploads in progress in the blob store (local: temporary files, named or held open
    /// unnamed; S3: unfinished multipart uploads).
    pub fn pending_uploads(&self) -> usize {
        if self.env.backend != Backend::S3 {
            let tmp = self.upload_tmp_dir();
            return files_under(&tmp).len() + unnamed_files_in(&tmp).len();
        }
        self.s3_store()
            .unfinished_uploads()
            .unwrap_or_else(|e| panic!("listing multipart uploads: {e}"))
    }

    /// A client of the test's bucket and prefix.
    pub fn s3_store(&self) -> packages_storage::S3BlobStore {
        let settings = forge_server::storage::s3_settings(&self.env.config)
            .unwrap_or_else(|e| panic!("S3 settings: {e}"));
        packages_storage::S3BlobStore::new(&settings).unwrap_or_else(|e| panic!("S3 client: {e}"))
    }

    pub fn packages_dir(&self) -> PathBuf {
        self.data_dir().join("packages")
    }

    /// Where uploads are written before they are complete.
    pub fn upload_tmp_dir(&self) -> PathBuf {
        self.packages_dir().join("tmp")
    }

    /// The database as the server sees it: while the server runs, through the server's own
    /// pool, so that direct changes reach its read cache as the server's own writes do (on
    /// SQLite nothing else would tell it).
    pub fn db(&self) -> &Database {
        match &self.running {
            Some(running) => running.database(),
            None => self.db.as_ref().expect("database handle"),
        }
    }

    /// Creates a user through the admin operations (as `forge-server admin user create`).
    pub fn create_user(&self, name: &str, password: &str, admin: bool) {
        forge_server::admin::create_user(
            self.config(),
            name,
            password,
            &format!("{name}@example.com"),
            admin,
        )
        .unwrap_or_else(|e| panic!("create user {name}: {e}"));
    }

    /// Creates a user with the given visibility (as `admin user create --visibility`).
    pub fn create_user_with_visibility(&self, name: &str, password: &str, visibility: Visibility) {
        forge_server::admin::create_user_with_visibility(
            self.config(),
            name,
            password,
            &format!("{name}@example.com"),
            false,
            visibility,
        )
        .unwrap_or_else(|e| panic!("create user {name}: {e}"));
    }

    /// Changes a user directly in the database (for states the admin commands cannot set).
    pub fn update_user(&self, name: &str, changes: &UserChanges) {
        let id = self
            .owner_id(name)
            .unwrap_or_else(|| panic!("no user {name}"));
        self.db()
            .update_user(id, changes)
            .unwrap_or_else(|e| panic!("update user {name}: {e}"));
    }

    /// The id of a user or organisation; panics when there is none.
    pub fn user_id(&self, name: &str) -> i64 {
        self.owner_id(name)
            .unwrap_or_else(|| panic!("no user or organisation {name}"))
    }

    /// Creates an organisation through the database layer; `creator` lands in its owners
    /// team. Returns the organisation's id.
    pub fn create_org(&self, name: &str, visibility: Visibility, creator: &str) -> i64 {
        let (org, _) = self
            .db()
            .create_org(&NewUser::org(name, visibility), self.user_id(creator))
            .unwrap_or_else(|e| panic!("create organisation {name}: {e}"));
        org.id
    }

    /// Creates a team in `org` with the overall level `authorize` and the packages unit at
    /// `packages`, holding `members`. Returns the team's id.
    pub fn create_team(
        &self,
        org: &str,
        team: &str,
        authorize: AccessMode,
        packages: AccessMode,
        members: &[&str],
    ) -> i64 {
        let new = NewTeam {
            org_id: self.user_id(org),
            name: team.to_owned(),
            description: String::new(),
            authorize,
            includes_all_repositories: true,
            units: vec![(PACKAGES_UNIT.to_owned(), packages)],
        };
        let team_id = self
            .db()
            .create_team(&new)
            .unwrap_or_else(|e| panic!("create team {team} in {org}: {e}"))
            .id;
        for member in members {
            self.db()
                .add_team_member(team_id, self.user_id(member))
                .unwrap_or_else(|e| panic!("add {member} to team {team} of {org}: {e}"));
        }
        team_id
    }

    /// Mints a personal access token through the admin operations.
    pub fn token(&self, username: &str, token_name: &str, scopes: &str) -> String {
        forge_server::admin::generate_access_token(self.config(), username, token_name, scopes)
            .unwrap_or_else(|e| panic!("generate token {token_name} for {username}: {e}"))
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends one request; `path` starts with `/` and is already percent-encoded.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Resp {
        send(&self.agent, method, &self.url(path), auth, headers, body)
    }

    pub fn put(&self, path: &str, body: &[u8], auth: &Auth) -> Resp {
        self.request("PUT", path, auth, &[], Some(body))
    }

    pub fn get(&self, path: &str, auth: &Auth) -> Resp {
        self.request("GET", path, auth, &[], None)
    }

    pub fn get_with(&self, path: &str, auth: &Auth, headers: &[(&str, &str)]) -> Resp {
        self.request("GET", path, auth, headers, None)
    }

    pub fn head(&self, path: &str, auth: &Auth) -> Resp {
        self.request("HEAD", path, auth, &[], None)
    }

    pub fn delete(&self, path: &str, auth: &Auth) -> Resp {
        self.request("DELETE", path, auth, &[], None)
    }

    /// POSTs a JSON document.
    pub fn post_json(&self, path: &str, auth: &Auth, json: &serde_json::Value) -> Resp {
        let body = serde_json::to_vec(json).expect("serialise JSON");
        self.request(
            "POST",
            path,
            auth,
            &[("Content-Type", "application/json")],
            Some(&body),
        )
    }

    /// Opens a plain TCP connection to the server, for requests no HTTP client would send.
    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect to server");
        stream
            .set_read_timeout(Some(HTTP_TIMEOUT))
            .expect("set read timeout");
        stream
            .set_write_timeout(Some(HTTP_TIMEOUT))
            .expect("set write timeout");
        stream
    }

    /// Sends `request` verbatim on a new connection and reads the response until the server
    /// closes it. Send `Connection: close` so it does.
    pub fn raw(&self, request: &[u8]) -> RawResponse {
        let mut stream = self.connect();
        stream.write_all(request).expect("send raw request");
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).expect("read raw response");
        RawResponse::parse(&bytes)
    }

    /// A raw request line plus `Host` and `Connection: close` headers and `extra` header
    /// lines (each without CRLF), with no body.
    pub fn raw_simple(&self, method: &str, path: &str, extra: &[&str]) -> RawResponse {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for line in extra {
            req.push_str(line);
            req.push_str("\r\n");
        }
        if method == "PUT" || method == "POST" {
            req.push_str("Content-Length: 0\r\n");
        }
        req.push_str("\r\n");
        self.raw(req.as_bytes())
    }

    /// The id of the user or organisation of this name, if it exists.
    pub fn owner_id(&self, owner: &str) -> Option<i64> {
        self.db()
            .user_by_name(owner)
            .unwrap_or_else(|e| panic!("look up user {owner}: {e}"))
            .map(|u| u.id)
    }

    /// The owner's generic versions as stored, newest first; none for an unknown owner.
    pub fn stored_versions(&self, owner: &str) -> Vec<StoredVersion> {
        let Some(owner_id) = self.owner_id(owner) else {
            return Vec::new();
        };
        let filter = VersionFilter {
            package_type: Some(PackageType::Generic.as_str().to_owned()),
            ..VersionFilter::default()
        };
        let (rows, _) = self
            .db()
            .list_versions(
                owner_id,
                &filter,
                Page {
                    page: 1,
                    limit: 100_000,
                },
            )
            .unwrap_or_else(|e| panic!("list versions of {owner}: {e}"));
        rows.into_iter()
            .map(|l| StoredVersion {
                id: l.version.id,
                package_name: l.package.name,
                version: l.version.version,
                download_count: l.version.download_count,
                metadata_json: l.version.metadata_json,
            })
            .collect()
    }

    /// The stored version (looked up case-insensitively), if it exists.
    pub fn stored_version(&self, owner: &str, name: &str, version: &str) -> Option<StoredVersion> {
        let owner_id = self.owner_id(owner)?;
        self.db()
            .version_detail(
                owner_id,
                PackageType::Generic,
                &packages_core::lower(name),
                version,
            )
            .unwrap_or_else(|e| panic!("look up {owner}/{name}/{version}: {e}"))
            .map(|l| StoredVersion {
                id: l.version.id,
                package_name: l.package.name,
                version: l.version.version,
                download_count: l.version.download_count,
                metadata_json: l.version.metadata_json,
            })
    }

    /// The files of a version as stored, by id; none when the version does not exist.
    pub fn stored_package_files(&self, owner: &str, name: &str, version: &str) -> Vec<StoredFile> {
        let Some(v) = self.stored_version(owner, name, version) else {
            return Vec::new();
        };
        self.db()
            .version_files(v.id)
            .unwrap_or_else(|e| panic!("files of {owner}/{name}/{version}: {e}"))
            .into_iter()
            .map(|(f, b)| StoredFile {
                name: f.name,
                blob_id: f.blob_id,
                is_lead: f.is_lead,
                size: b.size,
                sha256: b.hash_sha256,
            })
            .collect()
    }

    /// The version's download counter; panics when the version does not exist.
    pub fn download_count(&self, owner: &str, name: &str, version: &str) -> i64 {
        self.stored_version(owner, name, version)
            .unwrap_or_else(|| panic!("no version {owner}/{name}/{version}"))
            .download_count
    }

    /// Number of blob rows: those any file references plus the unreferenced ones.
    pub fn blob_count(&self) -> usize {
        let db = self.db();
        let mut ids = std::collections::BTreeSet::new();
        let users = db
            .list_users(None)
            .unwrap_or_else(|e| panic!("list users: {e}"));
        for user in users {
            let (rows, _) = db
                .list_versions(
                    user.id,
                    &VersionFilter::default(),
                    Page {
                        page: 1,
                        limit: 100_000,
                    },
                )
                .unwrap_or_else(|e| panic!("list versions: {e}"));
            for row in rows {
                for (file, _) in db
                    .version_files(row.version.id)
                    .unwrap_or_else(|e| panic!("list files: {e}"))
                {
                    ids.insert(file.blob_id);
                }
            }
        }
        let unreferenced = db
            .unreferenced_blobs(i64::MAX, i64::MAX)
            .unwrap_or_else(|e| panic!("list unreferenced blobs: {e}"));
        ids.extend(unreferenced.iter().map(|b| b.id));
        ids.len()
    }

    /// Every regular file under the blob store root (temporary uploads included).
    pub fn files_on_disk(&self) -> Vec<PathBuf> {
        files_under(&self.packages_dir())
    }

    /// Stops the server gracefully, which waits for requests in flight, and starts it again
    /// on the same data directory and database (on a new port).
    pub fn restart(&mut self) {
        self.agent = agent();
        self.stop();
        let running = forge_server::start_with_formats(self.env.config.clone(), formats())
            .unwrap_or_else(|e| panic!("server did not restart: {e}"));
        self.addr = running.addr();
        self.base = format!("http://{}", self.addr);
        self.running = Some(running);
    }

    /// Stops the server now (it also stops on drop).
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Close pooled keep-alive connections first: a graceful stop waits for open ones.
        self.agent = agent();
        self.stop();
        // Close our pool before the PostgreSQL database is dropped.
        self.db.take();
    }
}

/// A package version as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    pub id: i64,
    /// The package's name in the casing of its first upload.
    pub package_name: String,
    pub version: String,
    pub download_count: i64,
    pub metadata_json: Option<String>,
}

/// A package file with its blob, as the database holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub name: String,
    pub blob_id: i64,
    pub is_lead: bool,
    pub size: i64,
    pub sha256: String,
}

/// Unnamed files (`O_TMPFILE`) made in `dir` that this process still holds open: the kernel
/// shows them as `<dir>/#<inode> (deleted)`. The servers of the tests run in this process,
/// so an upload that left its file open shows here.
pub fn unnamed_files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    // The kernel names the real path, without symbolic links.
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut out: Vec<PathBuf> = fds
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|target| {
            target.parent() == Some(dir.as_path())
                && target
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('#') && n.ends_with(" (deleted)"))
        })
        .collect();
    out.sort();
    out
}

/// Lists the regular files below `dir`, recursively; a missing dir has none.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(_) => out.push(path),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// Credentials for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    Anonymous,
    /// `Authorization: Basic base64(user:password)`.
    Basic(String, String),
    /// `Authorization: token <T>`.
    Token(String),
    /// `Authorization: Bearer <T>`.
    Bearer(String),
    /// Any `Authorization` header value.
    Raw(String),
}

impl Auth {
    pub fn basic(user: &str, password: &str) -> Auth {
        Auth::Basic(user.to_owned(), password.to_owned())
    }

    pub fn token(token: &str) -> Auth {
        Auth::Token(token.to_owned())
    }

    pub fn bearer(token: &str) -> Auth {
        Auth::Bearer(token.to_owned())
    }

    /// The `Authorization` header value, if any.
    pub fn header_value(&self) -> Option<String> {
        match self {
            Auth::Anonymous => None,
            Auth::Basic(user, password) => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )),
            Auth::Token(t) => Some(format!("token {t}")),
            Auth::Bearer(t) => Some(format!("Bearer {t}")),
            Auth::Raw(v) => Some(v.clone()),
        }
    }
}

/// Shorthand for [`Auth::Anonymous`].
pub const ANON: Auth = Auth::Anonymous;

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    fn from_ureq(method: &str, r: ureq::Response) -> Resp {
        let status = r.status();
        let mut headers = Vec::new();
        for name in r.headers_names() {
            for value in r.all(&name) {
                headers.push((name.to_ascii_lowercase(), value.to_owned()));
            }
        }
        let mut body = Vec::new();
        r.into_reader()
            .read_to_end(&mut body)
            .unwrap_or_else(|e| panic!("{method}: reading the response body: {e}"));
        Resp {
            status,
            headers,
            body,
        }
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }

    /// A one-line description for assertion messages.
    pub fn describe(&self) -> String {
        format!("{} {:?} {:?}", self.status, self.headers, self.text())
    }
}

/// A response read off a raw socket.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Everything after the header block, exactly as received.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// Parses one response: status line, headers, then all remaining bytes as the body.
    pub fn parse(bytes: &[u8]) -> RawResponse {
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| {
                panic!(
                    "no complete response head in {:?}",
                    String::from_utf8_lossy(bytes)
                )
            });
        let head = String::from_utf8_lossy(&bytes[..end]);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        RawResponse {
            status,
            headers,
            body: bytes[end + 4..].to_vec(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body with chunked transfer coding removed, if it was used.
    pub fn decoded_body(&self) -> Vec<u8> {
        let chunked = self
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        if !chunked {
            return self.body.clone();
        }
        let mut out = Vec::new();
        let mut rest = &self.body[..];
        while let Some(pos) = rest.windows(2).position(|w| w == b"\r\n") {
            let size_text = String::from_utf8_lossy(&rest[..pos]);
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16).unwrap_or(0);
            rest = &rest[pos + 2..];
            if size == 0 || rest.len() < size {
                break;
            }
            out.extend_from_slice(&rest[..size]);
            rest = rest.get(size + 2..).unwrap_or_default();
        }
        out
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.decoded_body()).into_owned()
    }
}

/// Reads responses off `stream` until a final (non-1xx) one is complete, without waiting for
/// the server to close the connection: the head, then the body `Content-Length` or chunked
/// coding delimits (up to end of stream when neither does). Returns the statuses of the
/// interim responses that came first, and the final response. Gives up after `timeout`,
/// saying what had arrived by then.
pub fn read_final_response(
    stream: &mut TcpStream,
    timeout: Duration,
) -> Result<(Vec<u16>, RawResponse), String> {
    let deadline = Instant::now() + timeout;
    let mut interim = Vec::new();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        while let Some(response) = complete_response(&bytes) {
            if !(100..200).contains(&response.status) {
                return Ok((interim, response));
            }
            interim.push(response.status);
            bytes.drain(..bytes.len() - response.body.len());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no final response within {timeout:?}; interim {interim:?}, then {:?}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| format!("set read timeout: {e}"))?;
        let has_head = bytes.windows(4).any(|w| w == b"\r\n\r\n");
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => bytes.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            // The end of the stream, or a reset after the head arrived, still leaves the
            // response to inspect.
            Ok(_) | Err(_) if has_head => return Ok((interim, RawResponse::parse(&bytes))),
            Ok(_) => {
                return Err(format!(
                    "connection closed; interim {interim:?}, then {:?}",
                    String::from_utf8_lossy(&bytes)
                ))
            }
            Err(e) => {
                return Err(format!(
                    "read failed ({e}); interim {interim:?}, then {:?}",
                    String::from_utf8_lossy(&bytes)
                ))
            }
        }
    }
}

/// The first response in `bytes` if all of it has arrived; an interim (1xx) one has no body.
fn complete_response(bytes: &[u8]) -> Option<RawResponse> {
    bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let response = RawResponse::parse(bytes);
    if (100..200).contains(&response.status) {
        return Some(response);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return response
            .body
            .windows(5)
            .any(|w| w == b"0\r\n\r\n")
            .then_some(response);
    }
    let length: usize = response.header("content-length")?.parse().ok()?;
    (response.body.len() >= length).then_some(response)
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for one path segment.
pub fn seg(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/api/packages/{owner}/generic/{name}/{version}/{file}` with each part percent-encoded.
pub fn file_path(owner: &str, name: &str, version: &str, file: &str) -> String {
    format!("{}/{}", version_path(owner, name, version), seg(file))
}

/// `/api/packages/{owner}/generic/{name}/{version}` with each part percent-encoded.
pub fn version_path(owner: &str, name: &str, version: &str) -> String {
    format!(
        "/api/packages/{}/generic/{}/{}",
        seg(owner),
        seg(name),
        seg(version)
    )
}

/// Polls `check` every 20 ms until it returns true or `timeout` passes; returns the last
/// result, so slow background work is waited for without long fixed sleeps.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

/// The `forge-server` executable next to this test binary's `deps` directory
/// (`target/<profile>/forge-server`), which `scripts/test.sh` builds first.
pub fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("forge-server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} does not exist; build it first with `cargo build -p forge-server` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// The formats an in-process test server serves: the production list and the test-only
/// [`single::Single`], registered here at run time so no production build serves it.
pub fn formats() -> packages_api::Formats {
    forge_server::formats::production().with(&single::Single)
}

//! Typed configuration: built-in defaults, then a TOML file (`--config PATH` or
//! `FORGE_CONFIG`), then `FORGE_*` environment variables, each layer overriding the one
//! before. Layering and provenance come from `figment` (see [`load`]).
//!
//! Adding a setting takes two steps:
//! 1. a field (with a `///` line) in the struct of its section below, and its default in that
//!    struct's `Default` impl; a secret is a [`Secret`], a duration a `Duration` with
//!    `#[serde(with = "secs")]` or `millis`;
//! 2. the key with its default and a comment in `forge.example.toml` (a test checks that the
//!    example sets every key).
//!
//! Its environment variable follows from its place: `FORGE_` + the section's prefix + the key
//! in capitals (see [`env::section_prefix`]), e.g. `[limits] size_pypi` is
//! `FORGE_LIMIT_SIZE_PYPI` and `[tls] cert` is `FORGE_TLS_CERT`. Older names that do not follow
//! the rule are listed in [`env::ALIASES`]. A new section needs nothing more than its struct
//! and its field in [`Config`].

mod check;
mod env;
mod load;

use std::path::PathBuf;
use std::time::Duration;

use forge_auth::signed_link::LinkKeys;
use forge_auth::Secret;
use packages_api::Limits;
use serde::{Deserialize, Serialize};

pub use check::{render_check, KeySource};
pub use load::{load, ConfigError, Loaded};

/// Everything the server needs to start. `Debug` and the printed configuration never show
/// a secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub limits: Limits,
    pub cache: CacheConfig,
    pub cleanup: CleanupConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub links: LinksConfig,
    pub packages: PackagesConfig,
    pub tls: TlsConfig,
}

impl Default for Config {
    /// The defaults, with a `[limits] size_<type>` key for every production format.
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            auth: AuthConfig::default(),
            database: DatabaseConfig::default(),
            storage: StorageConfig::default(),
            limits: Limits::for_types(crate::formats::production().type_names()),
            cache: CacheConfig::default(),
            cleanup: CleanupConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            links: LinksConfig::default(),
            packages: PackagesConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

/// `[server]`: where and how the HTTP server runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Directory for the SQLite database and the blob store.
    pub data_dir: PathBuf,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Seconds an upload's body or a download may go without progress before the server
    /// cuts it (408 for an upload); 0 never cuts.
    #[serde(rename = "idle_timeout", with = "secs")]
    pub idle_timeout: Duration,
    /// The public base URL (`https://pkg.example.com/registry/`); when set, every absolute
    /// URL the server emits starts with it. Empty: built from each request.
    pub root_url: String,
    /// Addresses or ranges (`10.0.0.0/8`) of reverse proxies whose `Forwarded` and
    /// `X-Forwarded-*` headers are believed (client address, scheme, host); nobody else's
    /// are. `[log] trusted_proxies` is an older name of the same list.
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<String>,
    /// Uploads in progress at once (each holds a thread and buffers); past it a new upload
    /// is refused with 503 and `Retry-After` before its body is read. 0: no limit.
    pub max_concurrent_uploads: usize,
}

impl ServerConfig {
    /// Every trusted proxy, under either name.
    pub fn all_trusted_proxies(&self, log: &LogConfig) -> Vec<String> {
        self.trusted_proxies
            .iter()
            .chain(&log.trusted_proxies)
            .cloned()
            .collect()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:3000".to_owned(),
            data_dir: PathBuf::from("./data"),
            workers: 0,
            idle_timeout: Duration::from_secs(60),
            root_url: String::new(),
            trusted_proxies: Vec::new(),
            max_concurrent_uploads: 128,
        }
    }
}

/// `[auth]`: who may do what.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Refuse anonymous reads.
    pub require_signin_view: bool,
    /// bcrypt cost of new password hashes (4 to 31).
    pub bcrypt_cost: u32,
    /// Failed password attempts per account within the window before password sign-ins of
    /// the account are refused (429) until the window passes; 0: no limit.
    pub login_failures_per_account: u32,
    /// The same per client address (as the trusted proxies say); 0: no limit.
    pub login_failures_per_address: u32,
    /// Seconds a failed attempt counts.
    #[serde(with = "secs")]
    pub login_failure_window: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            require_signin_view: false,
            bcrypt_cost: 10,
            login_failures_per_account: 10,
            login_failures_per_address: 50,
            login_failure_window: Duration::from_secs(900),
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host/db`, or empty for the SQLite file in the data directory.
    pub url: DatabaseUrl,
    /// Connections in the pool.
    pub pool_size: u32,
    /// How often gathered download counts are written; zero writes each at once.
    #[serde(rename = "download_count_flush_ms", with = "millis")]
    pub download_count_flush: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: DatabaseUrl::default(),
            pool_size: 16,
            download_count_flush: Duration::from_secs(1),
        }
    }
}

/// `[storage]`: where package files are kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `local` (a directory) or `s3` (an S3-compatible bucket, `[storage.s3]`).
    #[serde(rename = "type")]
    pub kind: StorageType,
    /// Directory of the local blob store; empty means `packages/` in the data directory.
    pub path: PathBuf,
    /// Answer downloads with a redirect to a presigned URL of the bucket (S3 only).
    pub serve_direct: bool,
    /// How long a presigned download URL stays valid, in seconds.
    #[serde(with = "secs")]
    pub serve_direct_ttl: Duration,
    pub s3: S3Config,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            kind: StorageType::Local,
            path: PathBuf::new(),
            serve_direct: false,
            serve_direct_ttl: Duration::from_secs(300),
            s3: S3Config::default(),
        }
    }
}

/// Where package content lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    Local,
    S3,
}

/// `[storage.s3]`: the bucket, when `type = "s3"`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// `http://host:port` or `https://host`.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    /// Empty: `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// Empty: `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Secret,
    /// `endpoint/bucket/key` (true) or `bucket.endpoint/key` (false).
    pub path_style: bool,
    /// Prefix of every object written, e.g. `packages/`.
    pub prefix: String,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".to_owned(),
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            path_style: true,
            prefix: String::new(),
        }
    }
}

/// `[cache]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// How long cached reads (owners, tokens, memberships, file look-ups) may be used; 0
    /// turns the cache off. Changes made through this server are seen at once, and on
    /// PostgreSQL those of other instances as soon as their `NOTIFY` arrives; this bounds what
    /// nothing announces (another process writing the same SQLite file).
    #[serde(rename = "read_ttl_ms", with = "millis")]
    pub read_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            read_ttl: Duration::from_secs(2),
        }
    }
}

/// `[cleanup]`: the background sweep of unreferenced content and the package cleanup rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CleanupConfig {
    /// Time between sweeps, in seconds.
    #[serde(with = "secs")]
    pub interval: Duration,
    /// How long content no file refers to is kept before the sweep removes it, in seconds.
    #[serde(with = "secs")]
    pub blob_grace_period: Duration,
    /// Time between runs of the enabled package cleanup rules, in seconds.
    #[serde(with = "secs")]
    pub rules_interval: Duration,
}

impl Default for CleanupConfig {
    fn default() -> Self {
        CleanupConfig {
            interval: Duration::from_secs(3600),
            blob_grace_period: Duration::from_secs(24 * 3600),
            rules_interval: Duration::from_secs(24 * 3600),
        }
    }
}

/// `[metrics]`: `GET /metrics` in the Prometheus (OpenMetrics) text format.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `GET /metrics`.
    pub enabled: bool,
    /// When set, scrapers must send `Authorization: Bearer <token>`.
    pub token: Secret,
    /// Seconds between counts of owners, packages, versions, files and stored bytes.
    #[serde(with = "secs")]
    pub inventory_interval: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            token: Secret::default(),
            inventory_interval: Duration::from_secs(60),
        }
    }
}

/// `[tls]`: serve HTTPS (HTTP/2 over ALPN) instead of HTTP. SIGHUP reloads both files.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first; empty serves plain HTTP.
    pub cert: PathBuf,
    /// PEM private key of the certificate.
    pub key: PathBuf,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        !self.cert.as_os_str().is_empty()
    }
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Level filter such as `info` or `warn,forge::access=info`; `RUST_LOG` wins when set.
    pub level: String,
    /// `text` (one readable line per event) or `json` (one JSON object per line).
    pub format: LogFormat,
    /// The older name of `[server] trusted_proxies` (both lists count); a list, or a
    /// comma-separated text in the variable.
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<String>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: LogFormat::Text,
            trusted_proxies: Vec::new(),
        }
    }
}

/// `[packages]`: rules for what uploads may do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PackagesConfig {
    /// Uploads with `If-Match` may replace an existing file.
    pub allow_replace: bool,
    /// How long a resumable (tus) upload may take from its creation to its last byte, in
    /// seconds; unfinished ones are removed with their content after that.
    #[serde(with = "secs")]
    pub resumable_expiry: Duration,
}

impl Default for PackagesConfig {
    fn default() -> Self {
        PackagesConfig {
            allow_replace: true,
            resumable_expiry: Duration::from_secs(24 * 3600),
        }
    }
}

/// `[links]`: signed download links.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinksConfig {
    /// Comma-separated `kid:HS256:<base64 secret>` or `kid:EdDSA:<base64 Ed25519 private
    /// key>` entries; empty: one HS256 key kept in `link-signing.key` in the data directory.
    pub keys: Secret,
    /// The id of the key that signs new links; empty means the first.
    pub signing_key: String,
    /// Longest lifetime of a link, in seconds.
    #[serde(with = "secs")]
    pub max_ttl: Duration,
}

impl Default for LinksConfig {
    fn default() -> Self {
        LinksConfig {
            keys: Secret::default(),
            signing_key: String::new(),
            max_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A list from a TOML array or from a comma-separated text (as environment variables are).
fn list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        List(Vec<String>),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(items) => items,
        Either::Text(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// A database URL whose password is hidden from `Debug` and from the printed configuration.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(Secret);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(Secret::new(url.into()))
    }

    /// The URL itself, password included.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The URL with the password (if any) replaced by `[redacted]`.
    pub fn redacted(&self) -> String {
        redact_url_password(self.expose())
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

/// `scheme://user:password@host/…` → `scheme://user:[redacted]@host/…`; also hides a
/// `password=` query parameter.
fn redact_url_password(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest = scheme_end + 3;
        let authority_end = out[rest..].find(['/', '?']).map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@') {
            let userinfo = &out[rest..rest + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest + colon + 1..rest + at, "[redacted]");
            }
        }
    }
    if let Some(i) = out.find("password=") {
        let start = i + "password=".len();
        let end = out[start..].find('&').map_or(out.len(), |e| start + e);
        out.replace_range(start..end, "[redacted]");
    }
    out
}

impl Config {
    /// Defaults for everything but where the data lives.
    pub fn new(data_dir: PathBuf, database_url: String) -> Config {
        let mut config = Config::default();
        config.server.data_dir = data_dir;
        config.database.url = DatabaseUrl::new(database_url);
        config
    }

    /// Checks what types alone cannot; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.to_owned(),
                message: message.to_owned(),
            })
        };
        let formats = crate::formats::production();
        if let Some(t) = self.limits.size_types().find(|t| formats.find(t).is_none()) {
            return bad(
                &format!("limits.size_{t}"),
                "names no package format this server serves",
            );
        }
        if !(4..=31).contains(&self.auth.bcrypt_cost) {
            return bad("auth.bcrypt_cost", "must be between 4 and 31");
        }
        if self.database.pool_size == 0 {
            return bad("database.pool_size", "must be at least 1");
        }
        if self.cleanup.interval.is_zero() {
            return bad("cleanup.interval", "must be at least 1 second");
        }
        if self.cleanup.rules_interval.is_zero() {
            return bad("cleanup.rules_interval", "must be at least 1 second");
        }
        if let Err(e) =
            packages_service::client_addr::TrustedProxies::parse(&self.log.trusted_proxies)
        {
            return bad("log.trusted_proxies", &e);
        }
        if let Err(e) =
            packages_service::client_addr::TrustedProxies::parse(&self.server.trusted_proxies)
        {
            return bad("server.trusted_proxies", &e);
        }
        if !self.server.root_url.trim().is_empty() {
            if let Err(e) = packages_service::public_url::RootUrl::parse(&self.server.root_url) {
                return bad("server.root_url", &e);
            }
        }
        match (self.tls.enabled(), self.tls.key.as_os_str().is_empty()) {
            (true, true) => return bad("tls.key", "is needed with tls.cert"),
            (false, false) => return bad("tls.cert", "is needed with tls.key"),
            _ => {}
        }
        if self.server.listen.trim().is_empty() {
            return bad("server.listen", "must not be empty");
        }
        if self.links.max_ttl.is_zero() {
            return bad("links.max_ttl", "must be at least 1 second");
        }
        if !self.links.keys.is_empty() {
            if let Err(e) = LinkKeys::parse(&self.links.keys, &self.links.signing_key) {
                return bad("links.keys", &e.to_string());
            }
        }
        match self.storage.kind {
            StorageType::Local if self.storage.serve_direct => {
                return bad(
                    "storage.serve_direct",
                    "needs storage.type = \"s3\" (FORGE_STORAGE_TYPE=s3)",
                );
            }
            StorageType::Local => {}
            StorageType::S3 => {
                let s3 = &self.storage.s3;
                if s3.endpoint.trim().is_empty() {
                    return bad("storage.s3.endpoint", "must be set when storage.type is s3");
                }
                if s3.bucket.trim().is_empty() {
                    return bad("storage.s3.bucket", "must be set when storage.type is s3");
                }
                if !s3.prefix.is_empty() && !s3.prefix.ends_with('/') {
                    return bad("storage.s3.prefix", "must end with / (e.g. packages/)");
                }
                if !(1..=604_800).contains(&self.storage.serve_direct_ttl.as_secs()) {
                    return bad(
                        "storage.serve_direct_ttl",
                        "must be between 1 and 604800 seconds (7 days)",
                    );
                }
            }
        }
        Ok(())
    }

    /// HTTP worker threads: the configured number, or one per core.
    pub fn workers(&self) -> usize {
        match self.server.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        }
    }

    /// The database URL to connect to: the configured one, or the SQLite file in the data dir.
    pub fn effective_database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}",
                self.server.data_dir.join("forge.db").display()
            )
        } else {
            self.database.url.expose().to_owned()
        }
    }

    /// Root of the local blob store.
    pub fn packages_dir(&self) -> PathBuf {
        if self.storage.path.as_os_str().is_empty() {
            self.server.data_dir.join("packages")
        } else {
            self.storage.path.clone()
        }
    }
}

/// Durations written as whole seconds.
pub mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Durations written as whole milliseconds.
pub mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_is_the_default_database() {
        let c = Config::new(PathBuf::from("/srv/data"), String::new());
        assert_eq!(c.effective_database_url(), "sqlite:///srv/data/forge.db");
        let c = Config::new(PathBuf::from("/srv/data"), "postgres://db/x".to_owned());
        assert_eq!(c.effective_database_url(), "postgres://db/x");
    }

    #[test]
    fn database_passwords_are_hidden() {
        let c = Config::new(
            PathBuf::from("/d"),
            "postgres://forge:s3cret@db:5432/forge".to_owned(),
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(
            debug.contains("postgres://forge:[redacted]@db:5432/forge"),
            "{debug}"
        );
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("s3cret"), "{json}");
        assert_eq!(
            redact_url_password("postgres://h/db?user=u&password=pw&x=1"),
            "postgres://h/db?user=u&password=[redacted]&x=1"
        );
        assert_eq!(
            redact_url_password("postgres://u@h/db"),
            "postgres://u@h/db"
        );
    }

    #[test]
    fn blob_store_path() {
        let mut c = Config::new(PathBuf::from("/d"), String::new());
        assert_eq!(c.packages_dir(), PathBuf::from("/d/packages"));
        c.storage.path = PathBuf::from("/blobs");
        assert_eq!(c.packages_dir(), PathBuf::from("/blobs"));
    }
}

//! What every use case works with: the database, the blob store, the settings, the read
//! cache and the in-memory bookkeeping one process keeps (download counts, token uses,
//! content of failed uploads, failed sign-ins).

use std::sync::Arc;

use forge_auth::signed_link::LinkKeys;
use forge_auth::VerifiedPasswordCache;
use packages_core::{BlobStore, FormatRules, Limits};
use packages_db::{Backend, Database};

use crate::cache::ReadCache;
use crate::downloads::DownloadCounter;
use crate::leftovers::Leftovers;
use crate::token_uses::TokenUses;

/// Settings of the use cases.
#[derive(Debug, Clone)]
pub struct Settings {
    pub limits: Limits,
    /// Anonymous requests may not read anything.
    pub require_signin_view: bool,
    /// bcrypt cost for passwords set through the API.
    pub bcrypt_cost: u32,
    /// Gather download counts in memory and let the server flush them periodically, instead
    /// of writing one row update per download.
    pub batch_download_counts: bool,
    /// How long cached reads may be used (zero turns the cache off); bounds how long a change
    /// made through another server instance can go unseen.
    pub read_cache_ttl: std::time::Duration,
    /// Reverse proxies whose `X-Forwarded-For`, `-Proto`, `-Host` and `Forwarded` headers
    /// are believed: for the client's address (access log, rate limits), the scheme (cookies'
    /// `Secure`) and, without `root_url`, the URLs the server emits. Nobody else's are.
    pub trusted_proxies: crate::client_addr::TrustedProxies,
    /// The public base URL (`[server] root_url`): every absolute URL starts with it.
    pub root_url: Option<crate::public_url::RootUrl>,
    /// Uploads (requests that send content) in progress at once; past it a new one is refused
    /// with 503 before its body is read. 0: no limit.
    pub max_concurrent_uploads: usize,
    /// The password-guessing limits.
    pub login_limits: LoginLimits,
    /// Serve `GET /metrics`.
    pub metrics_enabled: bool,
    /// When set, `GET /metrics` wants `Authorization: Bearer <token>`.
    pub metrics_token: forge_auth::Secret,
    /// Answer downloads with a redirect to a presigned URL of the object store, valid this
    /// long (`FORGE_STORAGE_SERVE_DIRECT`); `None` streams content through the server.
    pub serve_direct: Option<std::time::Duration>,
    /// Keys and limits of signed download links.
    pub links: LinkSettings,
    /// Uploads with `If-Match` may replace an existing file.
    pub allow_replace: bool,
    /// How long an upload's body or a download may go without progress before it is cut
    /// (zero: never).
    pub idle_timeout: std::time::Duration,
    /// How long a resumable upload may take from its creation to its last byte.
    pub resumable_expiry: std::time::Duration,
}

/// Signed download links.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// One key signs, every key verifies.
    pub keys: Arc<LinkKeys>,
    /// Longest lifetime a link may be given, in seconds.
    pub max_ttl_secs: u64,
}

/// The rules of the formats the server serves, for use cases that need a format by its
/// type name (cleanup rules) without its HTTP side.
#[derive(Clone, Default)]
pub struct FormatTypes(Arc<[&'static dyn FormatRules]>);

impl FormatTypes {
    /// The given formats' rules, in display order.
    pub fn new(rules: impl IntoIterator<Item = &'static dyn FormatRules>) -> Self {
        FormatTypes(rules.into_iter().collect())
    }

    /// The format of this type name.
    pub fn find(&self, name: &str) -> Option<&'static dyn FormatRules> {
        self.0
            .iter()
            .copied()
            .find(|f| f.package_type().as_str() == name)
    }

    /// Every format's rules, in display order.
    pub fn iter(&self) -> impl Iterator<Item = &'static dyn FormatRules> + '_ {
        self.0.iter().copied()
    }

    /// Every type name, in display order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|f| f.package_type().as_str())
    }
}

impl std::fmt::Debug for FormatTypes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Everything a use case needs; cheap to clone.
#[derive(Clone)]
pub struct Service {
    pub db: Database,
    pub store: Arc<dyn BlobStore>,
    pub settings: Arc<Settings>,
    /// The formats served, by type name.
    pub types: FormatTypes,
    pub password_cache: Arc<VerifiedPasswordCache>,
    pub downloads: Arc<DownloadCounter>,
    pub cache: Arc<ReadCache>,
    /// Password attempts refused by the login limits (the failures themselves are in the
    /// database, see [`crate::limiter`]).
    pub login_refusals: Arc<LoginRefusals>,
    /// Token uses waiting to be written by the server's periodic flush.
    pub token_uses: Arc<TokenUses>,
    /// Content of failed uploads still to be removed.
    pub leftovers: Arc<Leftovers>,
}

impl Service {
    /// Bundles the parts. The read cache hears of the database's committed changes made
    /// through this process; on PostgreSQL it keeps nothing until the caller connects the
    /// feed of other processes' changes to it (`Database::start_change_feed`).
    pub fn new(
        db: Database,
        store: Arc<dyn BlobStore>,
        settings: Settings,
        types: FormatTypes,
    ) -> Result<Self, forge_auth::AuthError> {
        let on_postgres = db.backend() == Backend::Postgres;
        let cache = Arc::new(ReadCache::new(settings.read_cache_ttl, on_postgres));
        db.set_change_sink(cache.clone());
        Ok(Service {
            db,
            store,
            types,
            downloads: Arc::new(DownloadCounter::new(settings.batch_download_counts)),
            cache,
            login_refusals: Arc::default(),
            token_uses: Arc::default(),
            leftovers: Arc::default(),
            settings: Arc::new(settings),
            password_cache: Arc::new(VerifiedPasswordCache::new()?),
        })
    }
}

/// The limits (`[auth] login_failures_per_account`, `login_failures_per_address`,
/// `login_failure_window`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed attempts per account within the window; 0: no limit.
    pub per_account: u32,
    /// Failed attempts per client address within the window; 0: no limit.
    pub per_address: u32,
    pub window: std::time::Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_account: 10,
            per_address: 50,
            window: std::time::Duration::from_secs(900),
        }
    }
}

/// Password attempts refused by the limits, for the metrics.
#[derive(Debug, Default)]
pub struct LoginRefusals(std::sync::atomic::AtomicU64);

impl LoginRefusals {
    pub fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts one refusal.
    pub fn count(&self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

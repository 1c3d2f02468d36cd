//! State shared by every request: the database, the blob store and the settings.

use std::sync::Arc;

use forge_auth::signed_link::LinkKeys;
use forge_auth::VerifiedPasswordCache;

use crate::cache::ReadCache;
use crate::downloads::DownloadCounter;
use crate::formats::Formats;
use crate::leftovers::Leftovers;
use crate::token_uses::TokenUses;
use packages_core::BlobStore;
use packages_db::{Backend, Database};

/// Package limits, with one size limit per registered format.
pub use packages_core::Limits;

/// Settings of the HTTP layer.
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
    /// Reverse proxies whose `X-Forwarded-For` names the client in the access log.
    pub trusted_proxies: crate::client_addr::TrustedProxies,
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

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    /// The formats this server serves.
    pub formats: Formats,
    pub store: Arc<dyn BlobStore>,
    pub settings: Arc<Settings>,
    pub password_cache: Arc<VerifiedPasswordCache>,
    pub downloads: Arc<DownloadCounter>,
    pub cache: Arc<ReadCache>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Failed sign-ins of the web interface, per account and address.
    pub sign_ins: Arc<crate::pages::limiter::SignInLimiter>,
    /// Token uses waiting to be written by the server's periodic flush.
    pub token_uses: Arc<TokenUses>,
    /// Content of failed uploads still to be removed.
    pub leftovers: Arc<Leftovers>,
    /// `GET /api/openapi.json`, rendered on first request.
    pub api_document: Arc<std::sync::OnceLock<String>>,
}

impl AppState {
    /// Bundles the parts. The read cache hears of the database's committed changes made
    /// through this process; on PostgreSQL it keeps nothing until the caller connects the
    /// feed of other processes' changes to it (`Database::start_change_feed`).
    pub fn new(
        db: Database,
        store: Arc<dyn BlobStore>,
        settings: Settings,
        formats: Formats,
    ) -> Result<Self, forge_auth::AuthError> {
        let on_postgres = db.backend() == Backend::Postgres;
        let cache = Arc::new(ReadCache::new(settings.read_cache_ttl, on_postgres));
        db.set_change_sink(cache.clone());
        let metrics = Arc::new(crate::metrics::Metrics::new(db.clone(), cache.clone()));
        // Every blob store operation is counted, whatever the store.
        let store = Arc::new(crate::metered_store::MeteredStore::new(
            store,
            metrics.clone(),
        ));
        Ok(AppState {
            db,
            formats,
            store,
            downloads: Arc::new(DownloadCounter::new(settings.batch_download_counts)),
            cache,
            metrics,
            sign_ins: Arc::default(),
            token_uses: Arc::default(),
            leftovers: Arc::default(),
            api_document: Arc::default(),
            settings: Arc::new(settings),
            password_cache: Arc::new(VerifiedPasswordCache::new()?),
        })
    }
}

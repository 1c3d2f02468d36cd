//! State shared by every request: the use cases' [`Service`] and what only HTTP needs (the
//! formats' routes, metrics, the API document).

use std::ops::Deref;
use std::sync::Arc;

pub use packages_core::Limits;
pub use packages_service::state::{FormatTypes, LinkSettings, Service, Settings};

use crate::formats::Formats;

/// Everything a handler needs; cheap to clone. Dereferences to the [`Service`], so handlers
/// reach the database and the settings as `state.db` and `state.settings`.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    /// The formats this server serves.
    pub formats: Formats,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `GET /api/openapi.json`, rendered on first request.
    pub api_document: Arc<std::sync::OnceLock<String>>,
    /// The uploads in progress, against `max_concurrent_uploads`.
    pub uploads: Arc<UploadSlots>,
}

/// Counts the uploads in progress and refuses one past the limit: each takes a slot for as
/// long as it runs (its streams, threads and buffers), so the limit bounds what uploads hold.
#[derive(Debug, Default)]
pub struct UploadSlots {
    taken: std::sync::atomic::AtomicUsize,
    /// 0: no limit.
    max: usize,
}

/// A taken slot, given back when dropped.
#[derive(Debug)]
pub struct UploadSlot(Arc<UploadSlots>);

impl UploadSlots {
    pub fn new(max: usize) -> Self {
        UploadSlots {
            taken: Default::default(),
            max,
        }
    }

    /// A slot, or `None` when all are taken.
    pub fn try_take(self: &Arc<Self>) -> Option<UploadSlot> {
        use std::sync::atomic::Ordering;
        let taken = self.taken.fetch_add(1, Ordering::AcqRel);
        if self.max != 0 && taken >= self.max {
            self.taken.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(UploadSlot(self.clone()))
    }

    /// Whether a new upload would be refused now.
    pub fn full(&self) -> bool {
        self.max != 0 && self.taken.load(std::sync::atomic::Ordering::Acquire) >= self.max
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        self.0
            .taken
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The answer to an upload past `max_concurrent_uploads`.
pub fn too_many_uploads() -> crate::error::ApiError {
    crate::error::ApiError::Unavailable(
        "too many uploads in progress; try again shortly".to_owned(),
    )
}

impl Deref for AppState {
    type Target = Service;

    fn deref(&self) -> &Service {
        &self.service
    }
}

impl AppState {
    /// Bundles the parts; every blob store operation is counted in the metrics.
    pub fn new(
        db: packages_db::Database,
        store: Arc<dyn packages_core::BlobStore>,
        settings: Settings,
        formats: Formats,
    ) -> Result<Self, forge_auth::AuthError> {
        let uploads = Arc::new(UploadSlots::new(settings.max_concurrent_uploads));
        let mut service = Service::new(db, store, settings, formats.types())?;
        let metrics = Arc::new(crate::metrics::Metrics::new(
            service.db.clone(),
            service.cache.clone(),
            service.login_refusals.clone(),
        ));
        service.store = Arc::new(crate::metered_store::MeteredStore::new(
            service.store.clone(),
            metrics.clone(),
        ));
        Ok(AppState {
            service,
            formats,
            metrics,
            api_document: Arc::default(),
            uploads,
        })
    }
}

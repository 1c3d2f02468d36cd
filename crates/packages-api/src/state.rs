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
        let mut service = Service::new(db, store, settings, formats.types())?;
        let metrics = Arc::new(crate::metrics::Metrics::new(
            service.db.clone(),
            service.cache.clone(),
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
        })
    }
}

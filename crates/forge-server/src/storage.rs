//! Opening the configured blob store, with start-up errors that name the setting to fix.

use std::sync::Arc;

use packages_core::BlobStore;
use packages_storage::{LocalBlobStore, S3BlobStore, S3Problem, S3Settings};

use crate::config::{Config, StorageType};
use crate::error::ServerError;

/// The bucket settings with the credentials filled in from `AWS_ACCESS_KEY_ID` and
/// `AWS_SECRET_ACCESS_KEY` when the configuration leaves them empty.
pub fn s3_settings(config: &Config) -> Result<S3Settings, ServerError> {
    let s3 = &config.storage.s3;
    let from_env = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
    let access_key_id = if s3.access_key_id.is_empty() {
        from_env("AWS_ACCESS_KEY_ID").unwrap_or_default()
    } else {
        s3.access_key_id.clone()
    };
    let secret = if s3.secret_access_key.is_empty() {
        from_env("AWS_SECRET_ACCESS_KEY").unwrap_or_default()
    } else {
        s3.secret_access_key.expose().to_owned()
    };
    if access_key_id.is_empty() {
        return Err(setup(
            "storage.s3.access_key_id (FORGE_STORAGE_S3_ACCESS_KEY_ID, or AWS_ACCESS_KEY_ID)",
            "not set",
        ));
    }
    if secret.is_empty() {
        return Err(setup(
            "storage.s3.secret_access_key (FORGE_STORAGE_S3_SECRET_ACCESS_KEY, or AWS_SECRET_ACCESS_KEY)",
            "not set",
        ));
    }
    Ok(S3Settings {
        endpoint: s3.endpoint.trim().to_owned(),
        bucket: s3.bucket.trim().to_owned(),
        region: s3.region.trim().to_owned(),
        access_key_id,
        secret_access_key: packages_storage::s3::SecretKey::new(secret),
        path_style: s3.path_style,
        prefix: s3.prefix.clone(),
    })
}

/// Opens the bucket and checks that it can be used: reachable, credentials accepted,
/// bucket present.
pub fn open_s3(config: &Config) -> Result<S3BlobStore, ServerError> {
    let settings = s3_settings(config)?;
    let endpoint = "storage.s3.endpoint (FORGE_STORAGE_S3_ENDPOINT)";
    let store = S3BlobStore::new(&settings).map_err(|e| setup(endpoint, &e.to_string()))?;
    store.probe().map_err(|e| match e {
        S3Problem::Endpoint(_) | S3Problem::Unreachable(_) => {
            setup(endpoint, &format!("{e} (at {})", settings.endpoint))
        }
        S3Problem::Credentials(_) => setup(
            "storage.s3.access_key_id / storage.s3.secret_access_key \
             (FORGE_STORAGE_S3_ACCESS_KEY_ID / FORGE_STORAGE_S3_SECRET_ACCESS_KEY)",
            &e.to_string(),
        ),
        S3Problem::NoBucket => setup(
            "storage.s3.bucket (FORGE_STORAGE_S3_BUCKET)",
            &format!(
                "bucket {:?} does not exist at {}",
                settings.bucket, settings.endpoint
            ),
        ),
        S3Problem::Other(_) => setup(endpoint, &e.to_string()),
    })?;
    Ok(store)
}

/// The blob store the configuration names.
pub fn open_store(config: &Config) -> Result<Arc<dyn BlobStore>, ServerError> {
    Ok(match config.storage.kind {
        StorageType::Local => Arc::new(LocalBlobStore::open(config.packages_dir())?),
        StorageType::S3 => Arc::new(open_s3(config)?),
    })
}

fn setup(setting: &str, message: &str) -> ServerError {
    ServerError::StorageSetup(format!("{setting}: {message}"))
}

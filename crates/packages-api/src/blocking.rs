//! Running blocking work (database, bcrypt, file I/O) off the async workers.

use crate::error::ApiError;

/// Runs `f` on the blocking thread pool and flattens its result.
pub async fn run<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    actix_web::web::block(f).await?
}

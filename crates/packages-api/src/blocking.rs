//! Running blocking work (database, bcrypt, file I/O) off the async workers.

use crate::error::ApiError;

/// Runs `f` on the blocking thread pool and flattens its result.
pub async fn run<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    // The request's context goes along, so log lines written there carry its id.
    actix_web::web::block(crate::request::carry(move || {
        let started = std::time::Instant::now();
        let result = f();
        log::debug!(
            target: "forge::blocking",
            "blocking step took {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        result
    }))
    .await?
}

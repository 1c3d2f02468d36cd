//! The Gitea-compatible management API under `/api/v1`.

pub mod tokens;

use actix_web::{error::JsonPayloadError, web, HttpRequest};

use crate::error::{ApiError, JsonError};

/// Registers the `/api/v1` routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(web::JsonConfig::default().error_handler(json_body_error))
            .service(
                web::resource("/users/{username}/tokens")
                    .route(web::get().to(tokens::list))
                    .route(web::post().to(tokens::create)),
            )
            .service(
                web::resource("/users/{username}/tokens/{token}")
                    .route(web::delete().to(tokens::delete)),
            )
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(JsonError(ApiError::NotFound("not found")))
            })),
    );
}

fn json_body_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    JsonError(ApiError::BadRequest(format!("invalid JSON body: {err}"))).into()
}

//! The operational endpoints: `GET /api/healthz` (200 while the database answers, 503
//! otherwise) and `GET /metrics` (the Prometheus text of [`crate::metrics`]).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::Secret;

use crate::error::ApiError;

use crate::state::AppState;

/// Reports whether the service can serve requests.
#[utoipa::path(
    get,
    path = "/api/healthz",
    operation_id = "healthz",
    tag = "miscellaneous",
    summary = "Liveness, with a database check",
    responses(
        (status = 200, description = "`{\"status\": \"pass\", \"database\": \"ok\"}`", content_type = "application/json"),
        (status = 503, description = "`{\"status\": \"fail\", \"database\": \"unavailable\"}`", content_type = "application/json")
    )
)]
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.db.clone();
    let database_ok = matches!(
        web::block(crate::request::carry(move || db.ping())).await,
        Ok(Ok(()))
    );
    if database_ok {
        HttpResponse::Ok().json(serde_json::json!({ "status": "pass", "database": "ok" }))
    } else {
        HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "status": "fail", "database": "unavailable" }))
    }
}

/// `GET /metrics`; with a configured token only `Authorization: Bearer <token>` may read it.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "miscellaneous",
    summary = "Prometheus metrics (OpenMetrics text)",
    responses(
        (status = 200, description = "the metrics", content_type = "application/openmetrics-text"),
        (status = 401, description = "a token is configured and the request lacks it", content_type = "text/plain")
    )
)]
pub async fn serve_metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if !state.settings.metrics_enabled {
        return Err(ApiError::NoRoute);
    }
    let token = &state.settings.metrics_token;
    if !token.is_empty() {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| Secret::new(t.trim()));
        if given.as_ref() != Some(token) {
            return Err(ApiError::BadCredentials);
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render()))
}

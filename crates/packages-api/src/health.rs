//! `GET /api/healthz`: 200 while the database answers, 503 otherwise.

use actix_web::{web, HttpResponse};

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

//! `GET /api/healthz`: 200 while the database answers, 503 otherwise.

use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// Reports whether the service can serve requests.
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

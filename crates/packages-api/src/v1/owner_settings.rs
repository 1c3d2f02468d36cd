//! `GET`/`PATCH /api/v1/packages/{owner}/-/settings`: package settings an owner may choose
//! instead of the server's defaults (an extension; Forgejo has no such setting).
//!
//! Today there is one: `allow_replace`. The server's `[packages] allow_replace` is the
//! operator's ceiling: when it is off no owner can replace files; when it is on an owner may
//! still make its namespace immutable. Reading or changing the settings needs admin access to
//! the owner (the user themself, an organisation's owners or admin teams, site admins), as
//! for its cleanup rules: 404 for an owner the caller cannot see, 403 for one they see.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::cleanup_rules::administered_owner;
use crate::error::{ApiResult, JsonError};
use crate::state::AppState;

/// The settings as answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OwnerSettingsJson {
    /// The owner's choice; `null` when the server's default applies.
    pub allow_replace: Option<bool>,
    /// Whether an upload with `If-Match` may replace one of the owner's files now.
    pub effective_allow_replace: bool,
}

/// A change: a field that is absent stays as it is; `null` returns it to the default.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditOwnerSettings {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>, required = false)]
    pub allow_replace: Option<Option<bool>>,
}

/// Tells an explicit `null` (Some(None)) from an absent field (None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<bool>>, D::Error> {
    Option::<bool>::deserialize(d).map(Some)
}

fn settings_of(state: &AppState, owner_id: i64) -> ApiResult<OwnerSettingsJson> {
    let own = state.db.owner_allow_replace(owner_id)?;
    Ok(OwnerSettingsJson {
        allow_replace: own,
        effective_allow_replace: state.settings.allow_replace && own.unwrap_or(true),
    })
}

/// `GET /api/v1/packages/{owner}/-/settings`.
#[utoipa::path(
    get,
    path = "/api/v1/packages/{owner}/-/settings",
    operation_id = "getOwnerPackageSettings",
    tag = "package",
    summary = "The owner's package settings (admin access to the owner)",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages")
    ),
    responses(
        (status = 200, description = "the settings", body = OwnerSettingsJson),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let owner_name = path.into_inner();
    let json = super::gate::run(&req, state, move |state, facts| {
        let owner_id = administered_owner(state, facts, &owner_name)?.id;
        settings_of(state, owner_id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `PATCH /api/v1/packages/{owner}/-/settings`.
#[utoipa::path(
    patch,
    path = "/api/v1/packages/{owner}/-/settings",
    operation_id = "editOwnerPackageSettings",
    tag = "package",
    summary = "Change the owner's package settings; an absent field stays, `null` returns it to the default",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages")
    ),
    request_body = EditOwnerSettings,
    responses(
        (status = 200, description = "the settings", body = OwnerSettingsJson),
        (status = 400, description = "a malformed body or an unknown field", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<EditOwnerSettings>,
) -> Result<HttpResponse, JsonError> {
    let owner_name = path.into_inner();
    let body = body.into_inner();
    let json = super::gate::run(&req, state, move |state, facts| {
        let owner_id = administered_owner(state, facts, &owner_name)?.id;
        if let Some(allow) = body.allow_replace {
            state.db.set_owner_allow_replace(owner_id, allow)?;
        }
        settings_of(state, owner_id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

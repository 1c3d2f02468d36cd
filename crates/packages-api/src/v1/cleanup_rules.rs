//! Package cleanup rules: `/api/v1/packages/{owner}/-/cleanup-rules[/{id}[/preview]]`.
//!
//! Forgejo manages these rules only in its web interface; this API is our own, with the
//! field names of Forgejo's rules. Every route needs a signed-in caller (401) who administers
//! the owner: the user themself, an owner or admin-team member of the organisation, or a
//! site admin (403). An owner the caller may not even see answers 404, as if it did not exist.
//! The work is done by [`packages_service::cleanup_rules`], which the command line calls too.

use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::ScopeCategory;
use packages_core::{AccessMode, Visibility};
use packages_db::{CleanupRule, User};
use serde::{Deserialize, Serialize};

use super::gate::{Caller, RequestFacts};
use crate::error::{ApiError, ApiResult, JsonError};
use crate::state::AppState;
use packages_core::clock::rfc3339;
use packages_service::access;
use packages_service::cleanup_rules::{self, Removal, RuleInput, NO_RULE};

/// The body of a rule to create or change; absent fields keep their value (or the default
/// for a new rule: disabled, keep everything young, remove nothing by pattern).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = RuleInput)]
pub struct RuleBody {
    pub enabled: Option<bool>,
    #[serde(rename = "type")]
    pub package_type: Option<String>,
    pub keep_count: Option<i32>,
    pub keep_pattern: Option<String>,
    pub remove_days: Option<i32>,
    pub remove_pattern: Option<String>,
    pub match_full_name: Option<bool>,
}

impl From<RuleBody> for RuleInput {
    fn from(b: RuleBody) -> Self {
        RuleInput {
            enabled: b.enabled,
            package_type: b.package_type,
            keep_count: b.keep_count,
            keep_pattern: b.keep_pattern,
            remove_days: b.remove_days,
            remove_pattern: b.remove_pattern,
            match_full_name: b.match_full_name,
        }
    }
}

/// A rule as JSON.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleJson {
    pub id: i64,
    pub enabled: bool,
    #[serde(rename = "type")]
    pub package_type: String,
    pub keep_count: i32,
    pub keep_pattern: String,
    pub remove_days: i32,
    pub remove_pattern: String,
    pub match_full_name: bool,
    pub created: String,
    pub updated: String,
}

impl From<&CleanupRule> for RuleJson {
    fn from(r: &CleanupRule) -> Self {
        RuleJson {
            id: r.id,
            enabled: r.enabled,
            package_type: r.package_type.clone(),
            keep_count: r.keep_count,
            keep_pattern: r.keep_pattern.clone(),
            remove_days: r.remove_days,
            remove_pattern: r.remove_pattern.clone(),
            match_full_name: r.match_full_name,
            created: rfc3339(r.created_unix),
            updated: rfc3339(r.updated_unix),
        }
    }
}

/// A version a preview lists.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RemovalJson {
    #[serde(rename = "type")]
    pub package_type: String,
    pub package: String,
    pub version: String,
    pub created: String,
}

impl From<&Removal> for RemovalJson {
    fn from(r: &Removal) -> Self {
        RemovalJson {
            package_type: r.package_type.clone(),
            package: r.package.clone(),
            version: r.version.clone(),
            created: rfc3339(r.created_unix),
        }
    }
}

/// Authenticates the caller and checks they administer the owner: 401 anonymous, 404 an
/// owner they cannot see, 403 one they see but do not administer. Blocking. Also guards the
/// owner's package settings.
pub(super) fn administered_owner(
    state: &AppState,
    facts: RequestFacts,
    owner_name: &str,
) -> ApiResult<User> {
    let caller = Caller::authenticate(state, facts, ScopeCategory::Package)?;
    caller.require_doer()?;
    let owner = access::resolve_owner(state, &caller.auth, owner_name)?;
    let mode = access::access_mode(state, &caller.auth, &owner)?;
    let site_admin = caller.is_site_admin();
    if mode < AccessMode::Read && !site_admin {
        return Err(ApiError::NotFound("owner does not exist"));
    }
    if caller.public_only() && owner.visibility == Visibility::Private {
        return Err(ApiError::Forbidden(
            "token scope is limited to public packages",
        ));
    }
    if !access::administers(&caller.auth, mode) {
        return Err(ApiError::Forbidden(
            "only the owner's administrators may manage its package settings",
        ));
    }
    Ok(owner)
}

/// The rule a path names, after [`administered_owner`]'s checks; a rule of another owner
/// or an id that is no number is 404. Blocking.
fn administered_rule(
    state: &AppState,
    facts: RequestFacts,
    (owner_name, id): &(String, String),
) -> ApiResult<CleanupRule> {
    let owner = administered_owner(state, facts, owner_name)?;
    let id = id.parse().map_err(|_| ApiError::NotFound(NO_RULE))?;
    Ok(cleanup_rules::find(&state.db, &owner, id)?)
}

/// `GET /api/v1/packages/{owner}/-/cleanup-rules` → 200 with the owner's rules, by type.
#[utoipa::path(
    get,
    path = "/api/v1/packages/{owner}/-/cleanup-rules",
    operation_id = "listCleanupRules",
    tag = "package",
    summary = "The owner's cleanup rules, by type (admin access to the owner)",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages")
    ),
    responses(
        (status = 200, description = "the rules", body = Vec<RuleJson>),
        (status = 403, description = "the caller may not administer the owner", body = crate::error::ErrorBody),
        (status = 404, description = "no such owner or rule, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let owner_name = path.into_inner();
    let json = super::gate::run(&req, state, move |state, facts| {
        let owner = administered_owner(state, facts, &owner_name)?;
        let rules = cleanup_rules::list(&state.db, &owner)?;
        Ok(rules.iter().map(RuleJson::from).collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `POST /api/v1/packages/{owner}/-/cleanup-rules` → 201 with the new rule; 422 for a bad
/// field, 409 when the owner has a rule for the type already.
#[utoipa::path(
    post,
    path = "/api/v1/packages/{owner}/-/cleanup-rules",
    operation_id = "createCleanupRule",
    tag = "package",
    summary = "Add a cleanup rule for a package type; absent fields take their defaults",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages")
    ),
    request_body = RuleBody,
    responses(
        (status = 201, description = "the rule", body = RuleJson),
        (status = 400, description = "a malformed body", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not administer the owner", body = crate::error::ErrorBody),
        (status = 404, description = "no such owner or rule, or not visible to the caller", body = crate::error::ErrorBody),
        (status = 409, description = "the owner has a rule for that type", body = crate::error::ErrorBody),
        (status = 422, description = "an invalid field", body = crate::error::ErrorBody)
    )
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<RuleBody>,
) -> Result<HttpResponse, JsonError> {
    let owner_name = path.into_inner();
    let input = RuleInput::from(body.into_inner());
    let json = super::gate::run(&req, state, move |state, facts| {
        let owner = administered_owner(state, facts, &owner_name)?;
        let rule = cleanup_rules::create(&state.db, &state.types, &owner, input)?;
        Ok(RuleJson::from(&rule))
    })
    .await?;
    Ok(HttpResponse::Created().json(json))
}

/// `GET /api/v1/packages/{owner}/-/cleanup-rules/{id}` → 200 with the rule.
#[utoipa::path(
    get,
    path = "/api/v1/packages/{owner}/-/cleanup-rules/{id}",
    operation_id = "getCleanupRule",
    tag = "package",
    summary = "A cleanup rule",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("id" = i64, Path, description = "rule id")
    ),
    responses(
        (status = 200, description = "the rule", body = RuleJson),
        (status = 403, description = "the caller may not administer the owner", body = crate::error::ErrorBody),
        (status = 404, description = "no such owner or rule, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, JsonError> {
    let path = path.into_inner();
    let json = super::gate::run(&req, state, move |state, facts| {
        let rule = administered_rule(state, facts, &path)?;
        Ok(RuleJson::from(&rule))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `PATCH /api/v1/packages/{owner}/-/cleanup-rules/{id}` → 200 with the changed rule; fields
/// left out keep their values.
#[utoipa::path(
    patch,
    path = "/api/v1/packages/{owner}/-/cleanup-rules/{id}",
    operation_id = "editCleanupRule",
    tag = "package",
    summary = "Change a cleanup rule; absent fields keep their values",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("id" = i64, Path, description = "rule id")
    ),
    request_body = RuleBody,
    responses(
        (status = 200, description = "the rule", body = RuleJson),
        (status = 400, description = "a malformed body", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not administer the owner", body = crate::error::ErrorBody),
        (status = 404, description = "no such owner or rule, or not visible to the caller", body = crate::error::ErrorBody),
        (status = 409, description = "the owner has a rule for that type", body = crate::error::ErrorBody),
        (status = 422, description = "an invalid field", body = crate::error::ErrorBody)
    )
)]
pub async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<RuleBody>,
) -> Result<HttpResponse, JsonError> {
    let path = path.into_inner();
    let input = RuleInput::from(body.into_inner());
    let json = super::gate::run(&req, state, move |state, facts| {
        let rule = administered_rule(state, facts, &path)?;
        let rule = cleanup_rules::edit(&state.db, &state.types, &rule, input)?;
        Ok(RuleJson::from(&rule))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `DELETE /api/v1/packages/{owner}/-/cleanup-rules/{id}` → 204.
#[utoipa::path(
    delete,
    path = "/api/v1/packages/{owner}/-/cleanup-rules/{id}",
    operation_id = "deleteCleanupRule",
    tag = "package",
    summary = "Delete a cleanup rule",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("id" = i64, Path, description = "rule id")
    ),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller may not administer the owner", body = crate::error::ErrorBody),
        (status = 404, description = "no such owner or rule, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, JsonError> {
    let path = path.into_inner();
    super::gate::run(&req, state, move |state, facts| {
        let rule = administered_rule(state, facts, &path)?;
        Ok(cleanup_rules::delete(&state.db, &rule)?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/packages/{owner}/-/cleanup-rules/{id}/preview` → 200 with the versions the
/// rule would remove now (`type`, `package`, `version`, `created`), enabled or not.
#[utoipa::path(
    get,
    path = "/api/v1/packages/{owner}/-/cleanup-rules/{id}/preview",
    operation_id = "previewCleanupRule",
    tag = "package",
    summary = "The versions the rule would remove now, enabled or not",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("id" = i64, Path, description = "rule id")
    ),
    responses(
        (status = 200, description = "the versions", body = Vec<RemovalJson>),
        (status = 403, description = "the caller may not administer the owner", body = crate::error::ErrorBody),
        (status = 404, description = "no such owner or rule, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn preview(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, JsonError> {
    let path = path.into_inner();
    let json = super::gate::run(&req, state, move |state, facts| {
        let rule = administered_rule(state, facts, &path)?;
        let removals = cleanup_rules::preview(&state.db, &rule)?;
        Ok(removals.iter().map(RemovalJson::from).collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

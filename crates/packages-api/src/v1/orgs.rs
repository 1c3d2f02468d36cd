//! Organisations: `/api/v1/orgs` and `/api/v1/orgs/{org}`.
//!
//! An organisation the caller may not see (a private one to a non-member, anything to an
//! anonymous caller when sign-in is required) answers 404 as if it did not exist, on every
//! route; Gitea reveals private organisations to non-members on some routes with a 403.
//! Deleting an organisation is refused (422) while it still owns packages, so that packages
//! never vanish as a side effect.

use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::ScopeCategory;
use packages_core::{AccessMode, OwnerKind, Visibility};
use packages_db::{MembershipRow, NewUser, OwnerDeletion, User, UserChanges};
use serde::Deserialize;

use super::gate::Caller;
use crate::error::{ApiError, ApiResult, JsonError};
use crate::state::AppState;
use packages_service::access;
use packages_service::validate;

/// Gitea's refusal of a public-only token on a non-public organisation.
pub const PUBLIC_ORGS_ONLY: &str = "token scope is limited to public orgs";

/// Body of `POST /api/v1/orgs` (Gitea's `CreateOrgOption`). `repo_admin_change_team_access`
/// is accepted and ignored: there are no repositories here.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateOrgOption {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub website: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub visibility: String,
}

/// An organisation the caller can see, with the caller's standing in it.
#[derive(Debug, Clone)]
pub struct VisibleOrg {
    pub org: User,
    pub membership: MembershipRow,
}

impl VisibleOrg {
    /// Whether the caller may manage the organisation: an owner or a site admin.
    pub fn may_manage(&self, caller: &Caller) -> bool {
        self.membership.is_owner || caller.is_site_admin()
    }
}

const NOT_A_MEMBER: MembershipRow = MembershipRow {
    is_member: false,
    is_owner: false,
    max_team_authorize: AccessMode::None,
    max_packages_unit: AccessMode::None,
};

/// Finds an organisation by name and checks the caller may see it (404 otherwise), then
/// applies the public-only token rule (403). Blocking.
pub fn visible_org(state: &AppState, caller: &Caller, name: &str) -> ApiResult<VisibleOrg> {
    let org = state
        .db
        .user_by_name(name)?
        .filter(|u| u.kind == OwnerKind::Organization)
        .ok_or(ApiError::NotFound("organization does not exist"))?;
    visible(state, caller, org)
}

/// Checks an organisation found by other means (such as a team's) like [`visible_org`].
pub fn visible(state: &AppState, caller: &Caller, org: User) -> ApiResult<VisibleOrg> {
    // The packages access mode is Read or more exactly when the organisation is visible to
    // the caller, so one rule decides both.
    if access::access_mode(state, &caller.auth, &org)? < AccessMode::Read {
        return Err(ApiError::NotFound("organization does not exist"));
    }
    caller.check_public_only(org.visibility, PUBLIC_ORGS_ONLY)?;
    let membership = match &caller.auth.doer {
        Some(doer) => state.db.membership(org.id, doer.id)?,
        None => NOT_A_MEMBER,
    };
    Ok(VisibleOrg { org, membership })
}

/// `POST /api/v1/orgs` → 201 with the organisation; the caller becomes its owner.
#[utoipa::path(
    post,
    path = "/api/v1/orgs",
    operation_id = "orgCreate",
    tag = "organization",
    summary = "Create an organisation owned by the caller",
    request_body = CreateOrgOption,
    responses(
        (status = 201, description = "the organisation", body = super::json::OrgJson),
        (status = 400, description = "a malformed body", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 422, description = "an invalid or taken value", body = crate::error::ErrorBody)
    )
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CreateOrgOption>,
) -> Result<HttpResponse, JsonError> {
    let body = body.into_inner();
    let json = super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let doer = caller.require_doer()?;
            let visibility = validate::visibility(&body.visibility)?.unwrap_or(Visibility::Public);
            let new = NewUser {
                full_name: body.full_name,
                description: body.description,
                email: body.email,
                website: body.website,
                location: body.location,
                ..NewUser::org(&body.username, visibility)
            };
            let org = packages_service::accounts::create_org(&state.db, doer, &new)?;
            Ok(caller.presenter.org(&org))
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(json))
}

/// `GET /api/v1/orgs/{org}` → 200 with the organisation.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}",
    operation_id = "orgGet",
    tag = "organization",
    summary = "An organisation",
    params(
        ("org" = String, Path, description = "organisation name")
    ),
    responses(
        (status = 200, description = "the organisation", body = super::json::OrgJson),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let name = path.into_inner();
    let json = super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let org = visible_org(state, &caller, &name)?;
            Ok(caller.presenter.org(&org.org))
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `DELETE /api/v1/orgs/{org}` → 204, for the organisation's owners and site admins.
#[utoipa::path(
    delete,
    path = "/api/v1/orgs/{org}",
    operation_id = "orgDelete",
    tag = "organization",
    summary = "Delete an organisation (owners)",
    params(
        ("org" = String, Path, description = "organisation name")
    ),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody),
        (status = 422, description = "the organisation still owns packages", body = crate::error::ErrorBody)
    )
)]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let name = path.into_inner();
    super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let org = visible_org(state, &caller, &name)?;
            caller.require_doer()?;
            if !org.may_manage(&caller) {
                return Err(ApiError::Forbidden("Must be an organization owner"));
            }
            match state.db.delete_owner_if_unused(org.org.id)? {
                OwnerDeletion::Deleted => Ok(()),
                OwnerDeletion::NotFound => Err(ApiError::NotFound("organization does not exist")),
                OwnerDeletion::OwnsPackages => Err(ApiError::Unprocessable(
                    "organization still has ownership of packages".to_owned(),
                )),
                // Only users can be members of organisations.
                OwnerDeletion::InOrganizations => Err(ApiError::internal(
                    "an organisation reported organisation memberships",
                )),
            }
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Body of `PATCH /api/v1/orgs/{org}` (Gitea's `EditOrgOption`); absent fields stay.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EditOrgOption {
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub description: Option<String>,
    pub website: Option<String>,
    pub location: Option<String>,
    pub visibility: Option<String>,
    /// Accepted and ignored: there are no repositories here.
    #[serde(default)]
    pub repo_admin_change_team_access: Option<bool>,
}

/// `PATCH /api/v1/orgs/{org}` → 200 with the changed organisation, for its owners and site
/// admins.
#[utoipa::path(
    patch,
    path = "/api/v1/orgs/{org}",
    operation_id = "orgEdit",
    tag = "organization",
    summary = "Edit an organisation (owners)",
    params(
        ("org" = String, Path, description = "organisation name")
    ),
    request_body = EditOrgOption,
    responses(
        (status = 200, description = "the organisation", body = super::json::OrgJson),
        (status = 400, description = "a malformed body", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody),
        (status = 422, description = "an invalid or taken value", body = crate::error::ErrorBody)
    )
)]
pub async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<EditOrgOption>,
) -> Result<HttpResponse, JsonError> {
    let name = path.into_inner();
    let body = body.into_inner();
    let json = super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let org = visible_org(state, &caller, &name)?;
            caller.require_doer()?;
            if !org.may_manage(&caller) {
                return Err(ApiError::Forbidden("Must be an organization owner"));
            }
            let visibility = match body.visibility.as_deref() {
                Some(v) => validate::visibility(v)?,
                None => None,
            };
            if let Some(v) = &body.full_name {
                validate::max_chars("full_name", v, 100)?;
            }
            if let Some(v) = &body.description {
                validate::max_chars("description", v, 255)?;
            }
            if let Some(v) = &body.location {
                validate::max_chars("location", v, 50)?;
            }
            if let Some(v) = &body.website {
                validate::website(v)?;
            }
            if let Some(email) = body.email.as_deref().filter(|e| !e.is_empty()) {
                validate::max_chars("email", email, 255)?;
                if !validate::is_email(email) {
                    return Err(ApiError::Unprocessable(format!(
                        "e-mail invalid [email: {email}]"
                    )));
                }
            }
            let changes = UserChanges {
                full_name: body.full_name,
                email: body.email,
                description: body.description,
                website: body.website,
                location: body.location,
                visibility,
                ..UserChanges::default()
            };
            let changed = state.db.update_user(org.org.id, &changes)?;
            Ok(caller.presenter.org(&changed))
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

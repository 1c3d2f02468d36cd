//! Users: the signed-in user (`/api/v1/user`) and site administration of accounts
//! (`/api/v1/admin/users`).
//!
//! Deleting a user is refused (422) while it still owns packages or belongs to an
//! organisation, as in Gitea: packages would silently go with it, and an organisation could be
//! left without its owner. An administrator cannot delete its own account, and the last site
//! administrator keeps its flag.

use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::ScopeCategory;
use packages_core::Visibility;
use serde::Deserialize;

use super::gate::{Caller, RequestFacts};
use crate::error::{ApiError, ApiResult, JsonError};
use crate::state::AppState;
use packages_service::accounts::{self, NewAccount};
use packages_service::users::{self, UserEdit};
use packages_service::validate;

/// Body of `POST /api/v1/admin/users` (Gitea's `CreateUserOption`). `login_name`,
/// `source_id`, `send_notify` and `created` are accepted and ignored: there are no external
/// sign-in sources or mails here.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateUserOption {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
    /// Gitea's default is true; the flag is stored but nothing here enforces it.
    pub must_change_password: Option<bool>,
    #[serde(default)]
    pub visibility: String,
    #[serde(default)]
    pub full_name: String,
    pub restricted: Option<bool>,
}

/// Body of `PATCH /api/v1/admin/users/{username}` (Gitea's `EditUserOption`); absent fields
/// stay as they are. `login_name` and `source_id` are accepted and ignored.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct EditUserOption {
    pub email: Option<String>,
    pub full_name: Option<String>,
    /// Empty means unchanged, as in Gitea.
    pub password: Option<String>,
    pub must_change_password: Option<bool>,
    pub website: Option<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
    pub admin: Option<bool>,
    pub prohibit_login: Option<bool>,
    pub restricted: Option<bool>,
    /// Empty means unchanged.
    pub visibility: Option<String>,
}

/// Signs the caller in for an admin route: 401 when anonymous, 403 unless a site admin.
pub(crate) fn admin_caller(state: &AppState, facts: RequestFacts) -> ApiResult<Caller> {
    let caller = Caller::authenticate(state, facts, ScopeCategory::Admin)?;
    caller.require_doer()?;
    if !caller.is_site_admin() {
        return Err(ApiError::Forbidden("user should be the site admin"));
    }
    Ok(caller)
}

/// `GET /api/v1/user` → 200 with the signed-in user, all fields visible.
#[utoipa::path(
    get,
    path = "/api/v1/user",
    operation_id = "userGetCurrent",
    tag = "user",
    summary = "The authenticated user",
    responses(
        (status = 200, description = "the user", body = super::json::UserJson)
    )
)]
pub async fn current(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, JsonError> {
    let json = super::gate::as_caller(&req, state, ScopeCategory::User, move |_, caller| {
        let doer = caller.require_doer()?;
        caller.check_public_only(doer.visibility, "token scope is limited to public users")?;
        Ok(caller.presenter.user(doer))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `POST /api/v1/admin/users` → 201 with the new user.
#[utoipa::path(
    post,
    path = "/api/v1/admin/users",
    operation_id = "adminCreateUser",
    tag = "admin",
    summary = "Create a user (site admins)",
    request_body = CreateUserOption,
    responses(
        (status = 201, description = "the user", body = super::json::UserJson),
        (status = 400, description = "a malformed body", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 422, description = "an invalid or taken value", body = crate::error::ErrorBody)
    )
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CreateUserOption>,
) -> Result<HttpResponse, JsonError> {
    let body = body.into_inner();
    let json = super::gate::run(&req, state, move |state, facts| {
        let caller = admin_caller(state, facts)?;
        let visibility = validate::visibility(&body.visibility)?.unwrap_or(Visibility::Public);
        let new = NewAccount {
            full_name: body.full_name.clone(),
            visibility,
            restricted: body.restricted.unwrap_or(false),
            must_change_password: body.must_change_password.unwrap_or(true),
            ..NewAccount::new(&body.username, &body.email, &body.password)
        };
        let user = accounts::create_user(&state.db, state.settings.bcrypt_cost, &new)?;
        Ok(caller.presenter.user(&user))
    })
    .await?;
    Ok(HttpResponse::Created().json(json))
}

/// `PATCH /api/v1/admin/users/{username}` → 200 with the changed user.
#[utoipa::path(
    patch,
    path = "/api/v1/admin/users/{username}",
    operation_id = "adminEditUser",
    tag = "admin",
    summary = "Edit a user (site admins)",
    params(
        ("username" = String, Path, description = "user name")
    ),
    request_body = EditUserOption,
    responses(
        (status = 200, description = "the user", body = super::json::UserJson),
        (status = 400, description = "a malformed body, or the last admin would lose the flag", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody),
        (status = 422, description = "an invalid or taken value", body = crate::error::ErrorBody)
    )
)]
pub async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<EditUserOption>,
) -> Result<HttpResponse, JsonError> {
    let username = path.into_inner();
    let body = body.into_inner();
    let json = super::gate::run(&req, state, move |state, facts| {
        let caller = admin_caller(state, facts)?;
        let user = users::target_user(&state.db, &username)?;
        let updated = users::edit_user(
            &state.db,
            state.settings.bcrypt_cost,
            Some(&state.password_cache),
            &user,
            body.into(),
        )?;
        Ok(caller.presenter.user(&updated))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

impl From<EditUserOption> for UserEdit {
    fn from(b: EditUserOption) -> Self {
        UserEdit {
            email: b.email,
            full_name: b.full_name,
            password: b.password,
            must_change_password: b.must_change_password,
            website: b.website,
            location: b.location,
            description: b.description,
            active: b.active,
            admin: b.admin,
            prohibit_login: b.prohibit_login,
            restricted: b.restricted,
            visibility: b.visibility,
        }
    }
}

/// `DELETE /api/v1/admin/users/{username}` → 204.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/users/{username}",
    operation_id = "adminDeleteUser",
    tag = "admin",
    summary = "Delete a user (site admins)",
    params(
        ("username" = String, Path, description = "user name")
    ),
    responses(
        (status = 204, description = "deleted"),
        (status = 400, description = "the last admin", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody),
        (status = 422, description = "the user still owns packages or belongs to an organisation", body = crate::error::ErrorBody)
    )
)]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let username = path.into_inner();
    super::gate::run(&req, state, move |state, facts| {
        let caller = admin_caller(state, facts)?;
        let user = users::target_user(&state.db, &username)?;
        let doer_id = caller.require_doer()?.id;
        Ok(users::delete_user(
            &state.db,
            Some(&state.password_cache),
            Some(doer_id),
            &user,
        )?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

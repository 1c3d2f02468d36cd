//! Users: the signed-in user (`/api/v1/user`) and site administration of accounts
//! (`/api/v1/admin/users`).
//!
//! Deleting a user is refused (422) while it still owns packages or belongs to an
//! organisation, as in Gitea: packages would silently go with it, and an organisation could be
//! left without its owner. An administrator cannot delete its own account, and the last site
//! administrator keeps its flag.

use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::ScopeCategory;
use packages_core::{lower, OwnerKind, Visibility};
use packages_db::{OwnerDeletion, User, UserChanges};
use serde::Deserialize;

use super::gate::{Caller, RequestFacts};
use crate::blocking;
use crate::error::{ApiError, ApiResult, JsonError};
use crate::state::AppState;
use packages_service::accounts::{self, NewAccount};
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

/// The user (not organisation) named in an admin URL: 404 unknown, 422 an organisation.
fn target_user(state: &AppState, username: &str) -> ApiResult<User> {
    let user = state
        .db
        .user_by_name(username)?
        .ok_or(ApiError::NotFound("user does not exist"))?;
    if user.kind == OwnerKind::Organization {
        return Err(ApiError::Unprocessable(format!(
            "{} is an organization not a user",
            user.name
        )));
    }
    Ok(user)
}

/// Checks and hashes a new password (400 when it breaks the rules, as Gitea answers).
fn hash_new_password(state: &AppState, password: &str) -> ApiResult<String> {
    Ok(accounts::hash_new_password(
        password,
        state.settings.bcrypt_cost,
    )?)
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
    let facts = RequestFacts::of(&req)?;
    let state = state.into_inner();
    let json = blocking::run(move || {
        let caller = Caller::authenticate(&state, facts, ScopeCategory::User)?;
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
    let facts = RequestFacts::of(&req)?;
    let body = body.into_inner();
    let state = state.into_inner();
    let json = blocking::run(move || {
        let caller = admin_caller(&state, facts)?;
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
    let facts = RequestFacts::of(&req)?;
    let username = path.into_inner();
    let body = body.into_inner();
    let state = state.into_inner();
    let json = blocking::run(move || {
        let caller = admin_caller(&state, facts)?;
        let user = target_user(&state, &username)?;
        let changes = changes_of(&state, &user, body)?;
        let updated = state
            .db
            .update_user(user.id, &changes)
            .map_err(|e| match e {
                // Gitea answers 400 here where creation answers 422.
                packages_db::DbError::EmailTaken => ApiError::BadRequest(
                    validate::email_taken_message(changes.email.as_deref().unwrap_or_default()),
                ),
                other => other.into(),
            })?;
        if changes.password_hash.is_some() {
            // The cache is keyed by the stored hash, so the old password already misses;
            // dropping the entries also frees them at once.
            state.password_cache.forget_user(&user.lower_name);
        }
        Ok(caller.presenter.user(&updated))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// Validates an edit and turns it into column changes. Blocking (bcrypt, look-ups).
fn changes_of(state: &AppState, user: &User, body: EditUserOption) -> ApiResult<UserChanges> {
    let visibility = match body.visibility.as_deref() {
        Some(v) => validate::visibility(v)?,
        None => None,
    };
    for (field, value, max) in [
        ("full_name", &body.full_name, 100),
        ("description", &body.description, 255),
        ("location", &body.location, 50),
    ] {
        if let Some(value) = value {
            validate::max_chars(field, value, max)?;
        }
    }
    if let Some(website) = &body.website {
        validate::website(website)?;
    }
    let password_hash = match body.password.as_deref() {
        None | Some("") => None,
        Some(password) => Some(Some(hash_new_password(state, password)?)),
    };
    if let Some(email) = &body.email {
        // Gitea answers 400 here where creation answers 422.
        if !validate::is_email(email) {
            return Err(ApiError::BadRequest(format!(
                "e-mail invalid [email: {email}]"
            )));
        }
        if lower(email) != user.lower_email && state.db.email_in_use(email, Some(user.id))? {
            return Err(ApiError::BadRequest(format!(
                "e-mail already in use [email: {email}]"
            )));
        }
    }
    if body.admin == Some(false) && user.is_admin && state.db.count_admins()? <= 1 {
        return Err(ApiError::BadRequest(
            "cannot remove the admin flag of the last site administrator".to_owned(),
        ));
    }
    Ok(UserChanges {
        password_hash,
        email: body.email,
        is_admin: body.admin,
        is_active: body.active,
        prohibit_login: body.prohibit_login,
        visibility,
        must_change_password: body.must_change_password,
        full_name: body.full_name,
        description: body.description,
        is_restricted: body.restricted,
        website: body.website,
        location: body.location,
    })
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
    let facts = RequestFacts::of(&req)?;
    let username = path.into_inner();
    let state = state.into_inner();
    blocking::run(move || {
        let caller = admin_caller(&state, facts)?;
        let user = target_user(&state, &username)?;
        if caller.require_doer()?.id == user.id {
            return Err(ApiError::Unprocessable(
                "you cannot delete yourself".to_owned(),
            ));
        }
        match state.db.delete_owner_if_unused(user.id)? {
            OwnerDeletion::Deleted => {
                state.password_cache.forget_user(&user.lower_name);
                Ok(())
            }
            OwnerDeletion::NotFound => Err(ApiError::NotFound("user does not exist")),
            OwnerDeletion::OwnsPackages => Err(ApiError::Unprocessable(
                "user still has ownership of packages".to_owned(),
            )),
            OwnerDeletion::InOrganizations => Err(ApiError::Unprocessable(
                "user still has membership of organizations".to_owned(),
            )),
        }
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

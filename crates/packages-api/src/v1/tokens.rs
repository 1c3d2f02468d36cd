//! Personal access tokens: `/api/v1/users/{username}/tokens`.
//!
//! Creating, listing and deleting tokens needs the user's password (Basic auth), as in the
//! reference API: a token cannot mint or remove tokens. A site admin may manage anyone's.

use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::{Credentials, TokenScopes};
use packages_db::{AccessToken, User};
use serde::{Deserialize, Serialize};

use crate::auth::{authenticate_password, credentials_of};
use crate::blocking;
use crate::error::{ApiError, JsonError};
use crate::state::AppState;
use packages_service::accounts;

/// Body of a token creation request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateToken {
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A token as the API shows it; `sha1` carries the secret only in the creation response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub sha1: String,
    pub token_last_eight: String,
    pub scopes: Vec<String>,
}

impl TokenView {
    /// The API's view of a stored token; `secret` is empty except right after creation.
    pub fn from_row(t: &AccessToken, secret: String) -> Self {
        let scopes = TokenScopes::parse(&t.scope)
            .map(|s| s.names().into_iter().map(str::to_owned).collect())
            .unwrap_or_default();
        TokenView {
            id: t.id,
            name: t.name.clone(),
            sha1: secret,
            token_last_eight: t.token_last_eight.clone(),
            scopes,
        }
    }
}

/// Mints a token for `user` named `name` with `scopes` (each element may hold a
/// comma-separated list); the answer carries the secret, which is never shown again.
/// Blocking.
fn create_token(
    state: &AppState,
    user: &User,
    name: &str,
    scopes: &[String],
) -> Result<TokenView, ApiError> {
    let scopes = accounts::parse_scopes(scopes)?;
    let (row, token) = accounts::create_token(&state.db, user, name, &scopes)?;
    Ok(TokenView::from_row(&row, token.expose().to_owned()))
}

/// Signs in with a password and returns the user whose tokens are addressed.
fn password_doer_for(
    state: &AppState,
    credentials: Option<Credentials>,
    username: &str,
) -> Result<User, ApiError> {
    let Some((login, password)) = credentials.as_ref().and_then(|c| c.password_login()) else {
        return Err(ApiError::Unauthorized(
            "sign in with your user name and password to manage tokens",
        ));
    };
    let auth = authenticate_password(state, login, password.expose())?;
    let doer = auth.doer.ok_or(ApiError::BadCredentials)?;
    if !packages_service::auth::may_sign_in(&doer) {
        return Err(ApiError::Forbidden("this account may not sign in"));
    }
    if doer.lower_name == packages_core::lower(username) {
        return Ok(doer);
    }
    if !doer.is_admin {
        return Err(ApiError::Forbidden("you may only manage your own tokens"));
    }
    state
        .db
        .user_by_name(username)?
        .ok_or(ApiError::NotFound("user does not exist"))
}

/// `POST /api/v1/users/{username}/tokens` → 201 with the new token, shown once.
#[utoipa::path(
    post,
    path = "/api/v1/users/{username}/tokens",
    operation_id = "userCreateToken",
    tag = "user",
    summary = "Create an access token (password authentication); the secret is shown once, in `sha1`",
    params(
        ("username" = String, Path, description = "user name")
    ),
    request_body = CreateToken,
    responses(
        (status = 201, description = "the token", body = TokenView),
        (status = 400, description = "a malformed body or unknown scope", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 409, description = "the user has a token of that name", body = crate::error::ErrorBody),
        (status = 422, description = "an invalid or taken value", body = crate::error::ErrorBody)
    )
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CreateToken>,
) -> Result<HttpResponse, JsonError> {
    let credentials = credentials_of(&req)?;
    let username = path.into_inner();
    let body = body.into_inner();
    let state = state.into_inner();
    if crate::control_chars::has_control_char(&body.name) {
        return Err(ApiError::BadRequest(
            "token name must not contain control characters".to_owned(),
        )
        .into());
    }
    let view = blocking::run(move || {
        let user = password_doer_for(&state, credentials, &username)?;
        create_token(&state, &user, &body.name, &body.scopes)
    })
    .await?;
    Ok(HttpResponse::Created().json(view))
}

/// `GET /api/v1/users/{username}/tokens` → the user's tokens, without secrets.
#[utoipa::path(
    get,
    path = "/api/v1/users/{username}/tokens",
    operation_id = "userGetTokens",
    tag = "user",
    summary = "List the user's access tokens (password authentication)",
    params(
        ("username" = String, Path, description = "user name"),
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "the tokens, without secrets", body = Vec<TokenView>),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody)
    )
)]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let credentials = credentials_of(&req)?;
    let username = path.into_inner();
    let state = state.into_inner();
    let views = blocking::run(move || {
        let user = password_doer_for(&state, credentials, &username)?;
        let tokens = state.db.list_tokens(user.id)?;
        Ok(tokens
            .iter()
            .map(|t| TokenView::from_row(t, String::new()))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(views))
}

/// `DELETE /api/v1/users/{username}/tokens/{id or name}` → 204.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{username}/tokens/{token}",
    operation_id = "userDeleteAccessToken",
    tag = "user",
    summary = "Delete an access token by id or name",
    params(
        ("username" = String, Path, description = "user name"),
        ("token" = String, Path, description = "token id or name")
    ),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody),
        (status = 422, description = "the name matches several tokens", body = crate::error::ErrorBody)
    )
)]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, JsonError> {
    let credentials = credentials_of(&req)?;
    let (username, token) = path.into_inner();
    let state = state.into_inner();
    blocking::run(move || {
        let user = password_doer_for(&state, credentials, &username)?;
        Ok(accounts::delete_token(&state.db, &user, &token)?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

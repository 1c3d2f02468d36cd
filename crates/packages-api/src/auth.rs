//! Credentials from the `Authorization` header, and authentication that names the signed-in
//! user in the request's log context. Who the credentials belong to is the service's
//! decision ([`packages_service::auth`]).

use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpRequest;
use forge_auth::Credentials;

pub use packages_service::auth::{authenticate_password, doer_facts, AuthContext, AuthMethod};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use packages_service::reads::Reads;

/// Reads the credentials of a request without touching the database.
pub fn credentials_of(req: &HttpRequest) -> ApiResult<Option<Credentials>> {
    credentials_in(req.headers())
}

/// Reads the credentials from request headers.
pub fn credentials_in(headers: &HeaderMap) -> ApiResult<Option<Credentials>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::BadCredentials)?;
    forge_auth::parse_authorization(value).map_err(|_| ApiError::BadCredentials)
}

/// [`credentials_in`], also taking a bare token without a scheme (`Authorization:
/// <token>`), for formats whose clients send that (cargo).
pub fn credentials_or_bare_token(headers: &HeaderMap) -> ApiResult<Option<Credentials>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::BadCredentials)?;
    forge_auth::parse_authorization_or_bare_token(value).map_err(|_| ApiError::BadCredentials)
}

/// Resolves credentials to a doer. Blocking: runs database look-ups and possibly bcrypt.
pub fn authenticate(state: &AppState, credentials: Option<Credentials>) -> ApiResult<AuthContext> {
    authenticate_with(&Reads::blocking(state), credentials)
}

/// Resolves credentials to a doer through `reads` (see
/// [`packages_service::auth::authenticate_with`]) and names the user in the request's log
/// lines.
pub fn authenticate_with(
    reads: &Reads<'_>,
    credentials: Option<Credentials>,
) -> ApiResult<AuthContext> {
    let ctx = packages_service::auth::authenticate_with(reads, credentials)?;
    if let Some(user) = &ctx.doer {
        crate::request::set_user(&user.name);
    }
    Ok(ctx)
}

//! The credentials a request carries in its `Authorization` header, read without touching
//! the database (a malformed header is a 401). Who they belong to is [`crate::auth`]'s.

use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpRequest;
use forge_auth::Credentials;

use crate::error::{ApiError, ApiResult};

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

//! Who is calling, and the token login clients go through first.
//!
//! Clients start without credentials, get a 401 naming the token endpoint
//! (`WWW-Authenticate: Bearer realm=…`), exchange Basic credentials (a password or an access
//! token) or nothing (anonymous pulls) there for a short-lived bearer token, and send that
//! from then on. Basic credentials and access tokens are accepted on every route as well.
//! The token is signed with the server's link keys, so every instance sharing them accepts
//! it.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderMap};
use actix_web::HttpRequest;
use forge_auth::registry_token;
use forge_auth::TokenScopes;
use packages_api::auth::authenticate;
use packages_api::state::AppState;
use packages_core::clock::now_unix;
use packages_core::AccessMode;
use packages_service::access::{authorize_owner, OwnerAccess};
use packages_service::auth::{may_sign_in, AuthContext, AuthMethod};
use packages_service::reads::Reads;
use serde_json::json;

use crate::errors::{OciError, OciResult};

/// How long a token from the token endpoint lasts. Clients fetch a new one when a request
/// answers 401, so a long push survives its token's expiry.
pub const TOKEN_TTL_SECS: u64 = 3600;

/// The `service` the challenge names, as the reference registry's.
pub const SERVICE: &str = "container_registry";

/// The caller of a request: nobody yet (no `Authorization` at all: the client is to fetch a
/// token first), or a resolved identity (possibly anonymous, through an anonymous token).
pub enum Caller {
    Challenge,
    Known(Box<AuthContext>),
}

/// The `WWW-Authenticate` value pointing at the token endpoint of this server.
pub fn challenge(req: &HttpRequest) -> String {
    let realm = packages_api::urls::absolute(req, "/v2/token");
    format!("Bearer realm=\"{realm}\",service=\"{SERVICE}\",scope=\"*\"")
}

/// Resolves the request's credentials. Blocking.
pub fn caller(state: &AppState, headers: &HeaderMap) -> OciResult<Caller> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Caller::Challenge);
    };
    let text = value
        .to_str()
        .map_err(|_| OciError::unauthorized("malformed Authorization header"))?;
    if let Some(token) = bearer(text) {
        if registry_token::looks_like_jwt(token) {
            return registry_identity(state, token).map(|a| Caller::Known(Box::new(a)));
        }
    }
    let credentials = packages_api::credentials::credentials_in(headers)?;
    Ok(Caller::Known(Box::new(signed_in(authenticate(
        state,
        credentials,
    )?)?)))
}

/// Refuses an identity whose user may not sign in (inactive, login prohibited): it gets no
/// token and no access, as with a wrong password.
fn signed_in(auth: AuthContext) -> OciResult<AuthContext> {
    match &auth.doer {
        Some(user) if !may_sign_in(user) => {
            Err(OciError::unauthorized("this account may not sign in"))
        }
        _ => Ok(auth),
    }
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(rest.trim())
        .filter(|t| !t.is_empty())
}

/// The identity a registry token carries: the user as the database has it now (a user
/// disabled since the token was issued is refused), with the exchanged token's scope.
fn registry_identity(state: &AppState, token: &str) -> OciResult<AuthContext> {
    let claims = registry_token::verify(&state.settings.links.keys, token, now_unix() as u64)
        .map_err(|e| OciError::unauthorized(format!("invalid registry token: {e}")))?;
    let Some(user_id) = claims.user_id() else {
        return Ok(AuthContext::anonymous());
    };
    // By name through the read cache (invalidated when the user changes); the id must match,
    // so a user renamed or recreated under the name is not the token's.
    let user = Reads::blocking(state)
        .user_by_name(&claims.name)?
        .filter(|u| u.id == user_id && may_sign_in(u))
        .map(|u| (*u).clone())
        .ok_or_else(|| OciError::unauthorized("the token's user cannot sign in"))?;
    packages_api::request::set_user(&user.name);
    let scopes = claims
        .scope
        .as_deref()
        .map(TokenScopes::parse)
        .transpose()
        .map_err(|_| OciError::unauthorized("the token's scope cannot be read"))?;
    let method = if scopes.is_some() {
        AuthMethod::Token
    } else {
        AuthMethod::Password
    };
    Ok(AuthContext {
        doer: Some(user),
        scopes,
        method,
    })
}

/// `GET /v2/token`: exchanges the request's credentials (or none) for a bearer token.
/// `service` and `scope` are accepted and ignored: the token carries the caller's identity,
/// and every request is checked against the owner's permissions when it arrives.
pub fn token(state: &Arc<AppState>, headers: &HeaderMap) -> OciResult<serde_json::Value> {
    let credentials = packages_api::credentials::credentials_in(headers)?;
    let auth = match credentials {
        None => AuthContext::anonymous(),
        Some(credentials) => signed_in(authenticate(state, Some(credentials))?)?,
    };
    if let Some(scopes) = &auth.scopes {
        if !scopes.allows_package(AccessMode::Read) {
            return Err(OciError::unauthorized(
                "the access token has no package scope",
            ));
        }
    }
    let scope = auth.scopes.as_ref().map(TokenScopes::to_stored_string);
    let now = now_unix() as u64;
    let token = registry_token::sign(
        &state.settings.links.keys,
        auth.doer.as_ref().map(|u| (u.id, u.name.as_str())),
        scope,
        now,
        TOKEN_TTL_SECS,
    )
    .map_err(|e| OciError::from(packages_api::error::ApiError::internal(e)))?;
    let issued = packages_core::clock::rfc3339(now as i64);
    Ok(json!({
        "token": token,
        "access_token": token,
        "expires_in": TOKEN_TTL_SECS,
        "issued_at": issued,
    }))
}

/// Checks the caller has `required` access to `owner`'s packages. A refusal of an anonymous
/// caller asks it to sign in (401); a signed-in one is denied (403); an owner the caller
/// cannot see is an unknown name (404). Blocking.
pub fn access(
    state: &AppState,
    auth: &AuthContext,
    owner: &str,
    required: AccessMode,
) -> OciResult<OwnerAccess> {
    authorize_owner(state, auth, owner, required).map_err(|e| {
        let e = OciError::from(e);
        match e.code {
            "UNAUTHORIZED" if auth.doer.is_some() => OciError::denied(e.message),
            "DENIED" if auth.doer.is_none() => OciError::unauthorized(e.message),
            _ => e,
        }
    })
}

/// Who pushes: the doer, refused when anonymous.
pub fn pusher(auth: &AuthContext) -> OciResult<&packages_db::User> {
    auth.doer
        .as_ref()
        .ok_or_else(|| OciError::unauthorized("sign in to push"))
}

//! Who is asking: turns credentials into a doer, once per request.
//!
//! Order follows the reference registry: the token candidate (a header token, or the Basic
//! password — or the Basic user name when the password is empty or `x-oauth-basic`) is
//! tried as a personal access token first, then a Basic user name and password are tried as
//! a password sign-in. Credentials that are present but match nothing are a 401.

use forge_auth::{Credentials, TokenScopes};
use packages_core::OwnerKind;
use packages_db::User;

use crate::error::{ServiceError, ServiceResult};
use crate::reads::Reads;
use crate::state::Service;

/// How the doer proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Anonymous,
    Token,
    Password,
    /// A browser session of the web interface.
    Session,
}

/// The outcome of authentication for one request.
#[derive(Debug, Clone)]
pub struct AuthContext {
    /// The signed-in user, if any.
    pub doer: Option<User>,
    /// The token's scopes when a scoped token was used.
    pub scopes: Option<TokenScopes>,
    pub method: AuthMethod,
}

impl AuthContext {
    /// Nobody signed in.
    pub fn anonymous() -> Self {
        AuthContext {
            doer: None,
            scopes: None,
            method: AuthMethod::Anonymous,
        }
    }

    /// Signed in with a password.
    pub fn password(user: User) -> Self {
        AuthContext {
            doer: Some(user),
            scopes: None,
            method: AuthMethod::Password,
        }
    }

    /// Signed in through a browser session; sessions carry no token scopes.
    pub fn session(user: User) -> Self {
        AuthContext {
            doer: Some(user),
            scopes: None,
            method: AuthMethod::Session,
        }
    }

    /// The doer as the permission rules see it.
    pub fn doer_facts(&self) -> Option<forge_auth::Doer> {
        self.doer.as_ref().map(doer_facts)
    }
}

/// Whether the account may sign in at all (password, token, session): a user, not an
/// organisation, active and not prohibited from signing in. The one definition every
/// surface asks.
pub fn may_sign_in(user: &User) -> bool {
    user.kind == OwnerKind::User && user.is_active && !user.prohibit_login
}

/// The permission-relevant facts of a user. An account that may not sign in (inactive or
/// prohibited) keeps no admin powers: the access rules give it nothing at all.
pub fn doer_facts(user: &User) -> forge_auth::Doer {
    let may_sign_in = may_sign_in(user);
    forge_auth::Doer {
        id: user.id,
        is_admin: user.is_admin && may_sign_in,
        is_active: user.is_active,
        prohibit_login: user.prohibit_login,
        is_restricted: user.is_restricted,
    }
}

/// Resolves credentials to a doer. Blocking: runs database look-ups and possibly bcrypt.
pub fn authenticate(
    state: &Service,
    credentials: Option<Credentials>,
) -> ServiceResult<AuthContext> {
    authenticate_with(&Reads::blocking(state), credentials)
}

/// Resolves credentials to a doer through `reads`; without blocking, anything not cached
/// (a token or user not seen lately, a password not verified lately) is
/// [`ServiceError::WouldBlock`].
pub fn authenticate_with(
    reads: &Reads<'_>,
    credentials: Option<Credentials>,
) -> ServiceResult<AuthContext> {
    authenticate_credentials(reads, credentials)
}

fn authenticate_credentials(
    reads: &Reads<'_>,
    credentials: Option<Credentials>,
) -> ServiceResult<AuthContext> {
    let Some(credentials) = credentials else {
        return Ok(AuthContext::anonymous());
    };
    if let Some(candidate) = credentials.token_candidate() {
        if let Some(ctx) = authenticate_token(reads, &candidate)? {
            return Ok(ctx);
        }
    }
    if let Some((username, password)) = credentials.password_login() {
        return password_sign_in(reads, username, password.expose());
    }
    Err(ServiceError::BadCredentials)
}

fn authenticate_token(
    reads: &Reads<'_>,
    token: &forge_auth::Secret,
) -> ServiceResult<Option<AuthContext>> {
    let token = token.expose();
    if !forge_auth::looks_like_token(token) {
        return Ok(None);
    }
    let hash = forge_auth::hash_token(token);
    let Some(found) = reads.token_with_user(&hash)? else {
        return Ok(None);
    };
    let (stored, user) = &*found;
    // The look-up is by hash, which reveals nothing about the token through timing; the
    // constant-time check guards against a database that matches loosely (collation, case).
    if !forge_auth::verify_token(token, &stored.token_hash) {
        return Ok(None);
    }
    let scopes = TokenScopes::parse(&stored.scope).map_err(|_| {
        ServiceError::Forbidden("the token's scope cannot be read; create a new token")
    })?;
    // Written later in a batch: a read must not wait for the database's write lock.
    reads
        .state
        .token_uses
        .record(stored.id, packages_core::clock::now_unix());
    Ok(Some(AuthContext {
        doer: Some(user.clone()),
        scopes: Some(scopes),
        method: AuthMethod::Token,
    }))
}

/// Signs a user in with a password; also used by routes that insist on a password.
pub fn authenticate_password(
    state: &Service,
    username: &str,
    password: &str,
) -> ServiceResult<AuthContext> {
    password_sign_in(&Reads::blocking(state), username, password)
}

fn password_sign_in(
    reads: &Reads<'_>,
    username: &str,
    password: &str,
) -> ServiceResult<AuthContext> {
    // The limits are checked against the database, before any password work: a locked
    // account costs no hashing, and the right password is refused too until the window
    // passes.
    reads.need_blocking()?;
    let state = reads.state;
    let client = crate::client_addr::current_client();
    let earlier_failures = crate::limiter::check(state, username, client)?;
    match verify_password(reads, username, password) {
        Err(ServiceError::BadCredentials) => {
            crate::limiter::failed(state, username, client);
            Err(ServiceError::BadCredentials)
        }
        Ok(auth) => {
            if earlier_failures > 0 {
                crate::limiter::succeeded(state, username);
            }
            Ok(auth)
        }
        other => other,
    }
}

fn verify_password(
    reads: &Reads<'_>,
    username: &str,
    password: &str,
) -> ServiceResult<AuthContext> {
    let state = reads.state;
    let cost = state.settings.bcrypt_cost;
    let user = reads
        .user_by_name(username)?
        .filter(|u| u.kind == OwnerKind::User);
    let Some(user) = user else {
        reads.need_blocking()?;
        // Same cost as a real check so response times do not reveal which names exist.
        forge_auth::dummy_verify(password, cost);
        return Err(ServiceError::BadCredentials);
    };
    let Some(stored_hash) = user.password_hash.as_deref() else {
        reads.need_blocking()?;
        forge_auth::dummy_verify(password, cost);
        return Err(ServiceError::BadCredentials);
    };
    let cache = &state.password_cache;
    if cache.is_verified(&user.lower_name, password, stored_hash) {
        return Ok(AuthContext::password((*user).clone()));
    }
    reads.need_blocking()?;
    if forge_auth::verify_password(password, stored_hash) {
        cache.remember(&user.lower_name, password, stored_hash);
        return Ok(AuthContext::password((*user).clone()));
    }
    // The account may have been read before its password was changed through another
    // server instance; a refusal is only final against the stored hash of now.
    let fresh = state
        .db
        .user_by_name(username)?
        .filter(|u| u.kind == OwnerKind::User);
    if let Some(fresh) = fresh {
        if let Some(fresh_hash) = fresh.password_hash.as_deref() {
            if fresh_hash != stored_hash && forge_auth::verify_password(password, fresh_hash) {
                cache.remember(&fresh.lower_name, password, fresh_hash);
                return Ok(AuthContext::password(fresh));
            }
        }
    }
    Err(ServiceError::BadCredentials)
}

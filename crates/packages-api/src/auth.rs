//! Credentials from the `Authorization` header, and authentication that names the signed-in
//! user in the request's log context. Who the credentials belong to is the service's
//! decision ([`packages_service::auth`]).

use forge_auth::Credentials;

pub use crate::credentials::{credentials_in, credentials_of, credentials_or_bare_token};
pub use packages_service::auth::{authenticate_password, doer_facts, AuthContext, AuthMethod};

use crate::error::ApiResult;
use crate::state::AppState;
use packages_service::reads::Reads;

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

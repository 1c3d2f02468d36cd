//! The checks every `/api/v1` route starts with, in Gitea's order: who is asking (401 for
//! bad credentials), whether that account may act at all (403), and whether a token's scopes
//! cover the route's category at the level its method needs (403).

use actix_web::http::Method;
use actix_web::HttpRequest;
use forge_auth::{Credentials, ScopeCategory};
use packages_core::Visibility;
use packages_db::User;

use super::json::Presenter;
use crate::auth::{authenticate, credentials_of, AuthContext};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::urls::Site;

/// Gitea's answer when a route needs a signed-in caller and there is none.
pub const TOKEN_REQUIRED: &str = "token is required";

/// Gitea's answer to an account that is disabled or may not sign in.
const PROHIBITED: &str =
    "This account is prohibited from signing in, please contact your site administrator.";

/// What a handler needs from the request before it moves to a blocking thread (an
/// `HttpRequest` cannot cross threads).
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub credentials: Option<Credentials>,
    pub method: Method,
    pub site: Site,
}

impl RequestFacts {
    /// Reads the credentials (a malformed header is a 401), the method and the site.
    pub fn of(req: &HttpRequest) -> ApiResult<RequestFacts> {
        Ok(RequestFacts {
            credentials: credentials_of(req)?,
            method: req.method().clone(),
            site: Site::of(req),
        })
    }
}

/// The prologue every `/api/v1` handler shares: reads the request's facts, then runs
/// `work` on the blocking pool with the state and those facts, which it turns into a
/// [`Caller`] with the scope its route needs.
pub async fn run<T, F>(
    req: &HttpRequest,
    state: actix_web::web::Data<AppState>,
    work: F,
) -> Result<T, crate::error::JsonError>
where
    T: Send + 'static,
    F: FnOnce(&AppState, RequestFacts) -> ApiResult<T> + Send + 'static,
{
    let facts = RequestFacts::of(req)?;
    let state = state.into_inner();
    Ok(crate::blocking::run(move || work(&state, facts)).await?)
}

/// [`run`] for a route any authenticated caller may try: `work` gets the [`Caller`], whose
/// token (if any) was checked against `category`.
pub async fn as_caller<T, F>(
    req: &HttpRequest,
    state: actix_web::web::Data<AppState>,
    category: ScopeCategory,
    work: F,
) -> Result<T, crate::error::JsonError>
where
    T: Send + 'static,
    F: FnOnce(&AppState, Caller) -> ApiResult<T> + Send + 'static,
{
    run(req, state, move |state, facts| {
        work(state, Caller::authenticate(state, facts, category)?)
    })
    .await
}

/// The authenticated caller of a `/api/v1` route.
#[derive(Debug, Clone)]
pub struct Caller {
    pub auth: AuthContext,
    pub presenter: Presenter,
}

impl Caller {
    /// Authenticates the request and applies the account and scope checks for a route of
    /// `category`. Blocking: runs database look-ups and possibly bcrypt.
    pub fn authenticate(
        state: &AppState,
        facts: RequestFacts,
        category: ScopeCategory,
    ) -> ApiResult<Caller> {
        let auth = authenticate(state, facts.credentials)?;
        if auth
            .doer
            .as_ref()
            .is_some_and(|d| !packages_service::auth::may_sign_in(d))
        {
            return Err(ApiError::Forbidden(PROHIBITED));
        }
        if let Some(scopes) = &auth.scopes {
            let write = is_write(&facts.method);
            if !scopes.allows(category, write) {
                return Err(ApiError::Forbidden(scope_message(category, write)));
            }
        }
        let presenter = Presenter::new(facts.site, auth.doer_facts());
        Ok(Caller { auth, presenter })
    }

    /// The signed-in user, or 401 `token is required`.
    pub fn require_doer(&self) -> ApiResult<&User> {
        self.auth
            .doer
            .as_ref()
            .ok_or(ApiError::Unauthorized(TOKEN_REQUIRED))
    }

    /// Whether the caller is a site administrator (and may sign in).
    pub fn is_site_admin(&self) -> bool {
        self.auth.doer_facts().is_some_and(|d| d.is_admin)
    }

    /// Whether the request came with a token limited to public resources.
    pub fn public_only(&self) -> bool {
        self.auth.scopes.is_some_and(|s| s.public_only())
    }

    /// Refuses a public-only token on a resource whose visibility is not public.
    pub fn check_public_only(
        &self,
        visibility: Visibility,
        message: &'static str,
    ) -> ApiResult<()> {
        if self.public_only() && visibility != Visibility::Public {
            return Err(ApiError::Forbidden(message));
        }
        Ok(())
    }
}

/// Whether the method changes something and so needs a `write:` scope (Gitea's rule).
pub fn is_write(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// Gitea's refusal text for a token without the scope a route needs.
pub fn scope_message(category: ScopeCategory, write: bool) -> &'static str {
    use ScopeCategory as C;
    match (category, write) {
        (C::Package, false) => {
            "token does not have at least one of required scope(s): [read:package]"
        }
        (C::Package, true) => {
            "token does not have at least one of required scope(s): [write:package]"
        }
        (C::Admin, false) => "token does not have at least one of required scope(s): [read:admin]",
        (C::Admin, true) => "token does not have at least one of required scope(s): [write:admin]",
        (C::Organization, false) => {
            "token does not have at least one of required scope(s): [read:organization]"
        }
        (C::Organization, true) => {
            "token does not have at least one of required scope(s): [write:organization]"
        }
        (C::User, false) => "token does not have at least one of required scope(s): [read:user]",
        (C::User, true) => "token does not have at least one of required scope(s): [write:user]",
        (_, _) => "token does not have the required scope",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_levels() {
        assert!(!is_write(&Method::GET));
        assert!(!is_write(&Method::HEAD));
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(is_write(&m), "{m}");
        }
    }

    #[test]
    fn scope_messages_name_the_scope() {
        for category in [
            ScopeCategory::Package,
            ScopeCategory::Admin,
            ScopeCategory::Organization,
            ScopeCategory::User,
        ] {
            for (write, level) in [(false, "read"), (true, "write")] {
                assert_eq!(
                    scope_message(category, write),
                    format!(
                        "token does not have at least one of required scope(s): [{level}:{}]",
                        category.as_str()
                    )
                );
            }
        }
    }
}

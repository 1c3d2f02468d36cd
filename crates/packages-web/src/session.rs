//! Who is looking at a page: the browser session behind the session cookie, and the form
//! token (CSRF) every form must send back.
//!
//! The session id is 256 random bits in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` when
//! the request came over TLS); only its SHA-256 is stored. A new id is minted at every
//! sign-in, so an id planted before sign-in is never promoted. Signed-in forms carry the
//! session's own token; the sign-in form, before there is a session, carries a token that
//! must equal the one in a separate cookie (double submit).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponseBuilder};
use packages_db::User;

use packages_api::auth::AuthContext;
use packages_api::error::{ApiError, ApiResult};
use packages_api::state::AppState;
use packages_core::clock::now_unix as unix_now;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "forge_session";
/// Name of the form-token cookie of visitors who are not signed in.
pub const CSRF_COOKIE: &str = "forge_csrf";
/// Name of the form field carrying the form token.
pub const CSRF_FIELD: &str = "_csrf";
/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// The cookies and transport facts a page needs, read before going to a blocking thread.
#[derive(Debug, Clone)]
pub struct RequestCookies {
    pub session: Option<String>,
    pub csrf: Option<String>,
    /// The request came over HTTPS: the server's own TLS, a trusted proxy's `https`, or an
    /// `https` `root_url` (`packages_api::urls::is_secure`).
    pub secure: bool,
}

impl RequestCookies {
    /// Reads the `Cookie` headers of the request.
    pub fn of(req: &HttpRequest) -> RequestCookies {
        let mut session = None;
        let mut csrf = None;
        for value in req.headers().get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for pair in value.split(';') {
                let Some((name, v)) = pair.trim().split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"');
                if !forge_auth::looks_like_session_id(v) {
                    continue;
                }
                match name.trim() {
                    SESSION_COOKIE => session = Some(v.to_owned()),
                    CSRF_COOKIE => csrf = Some(v.to_owned()),
                    _ => {}
                }
            }
        }
        RequestCookies {
            session,
            csrf,
            secure: packages_api::urls::is_secure(req),
        }
    }
}

/// The visitor of a page: signed in or not, with the form token of its forms.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub auth: AuthContext,
    /// Hash of the current session id, when signed in.
    pub session_hash: Option<String>,
    /// The token this visitor's forms carry.
    pub csrf: String,
    /// The form token is new and must be sent in a cookie (visitors not signed in).
    set_csrf_cookie: bool,
    pub secure: bool,
}

impl Viewer {
    /// Finds the session of the request, if any and still valid. Blocking.
    pub fn load(state: &AppState, cookies: &RequestCookies) -> ApiResult<Viewer> {
        if let Some(id) = &cookies.session {
            let hash = forge_auth::hash_session_id(id);
            if let Some((session, user)) = state.db.session_with_user(&hash, unix_now())? {
                if may_sign_in(&user) {
                    return Ok(Viewer {
                        auth: AuthContext::session(user),
                        session_hash: Some(hash),
                        csrf: session.csrf_token,
                        set_csrf_cookie: false,
                        secure: cookies.secure,
                    });
                }
            }
        }
        Viewer::anonymous(cookies)
    }

    /// A visitor who is not signed in.
    pub fn anonymous(cookies: &RequestCookies) -> ApiResult<Viewer> {
        let (csrf, set_csrf_cookie) = match &cookies.csrf {
            Some(token) => (token.clone(), false),
            None => (forge_auth::random_hex().map_err(ApiError::internal)?, true),
        };
        Ok(Viewer {
            auth: AuthContext::anonymous(),
            session_hash: None,
            csrf,
            set_csrf_cookie,
            secure: cookies.secure,
        })
    }

    /// The signed-in user.
    pub fn user(&self) -> Option<&User> {
        self.auth.doer.as_ref()
    }

    /// Whether the viewer is a site administrator.
    pub fn is_admin(&self) -> bool {
        self.auth.doer_facts().is_some_and(|d| d.is_admin)
    }

    /// Checks the form token sent with a form (403 when it is missing or wrong).
    pub fn check_csrf(&self, given: Option<&str>) -> ApiResult<()> {
        if forge_auth::csrf_token_matches(&self.csrf, given.unwrap_or("")) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "the form has expired or did not come from this site; reload the page and try again",
            ))
        }
    }

    /// Adds the cookies this viewer needs to a response.
    pub fn apply_cookies(&self, builder: &mut HttpResponseBuilder) {
        if self.set_csrf_cookie {
            builder.append_header((
                header::SET_COOKIE,
                cookie(CSRF_COOKIE, &self.csrf, None, self.secure),
            ));
        }
    }
}

pub use packages_service::auth::may_sign_in;

/// A `Set-Cookie` value with the flags every cookie of ours has; `max_age` of `None` makes a
/// cookie that ends with the browser session.
pub fn cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// Starts a session for `user` and returns the `Set-Cookie` value; `previous` (the hash of
/// the session the browser had) is ended. Blocking.
pub fn start_session(
    state: &AppState,
    user: &User,
    previous: Option<&str>,
    secure: bool,
) -> ApiResult<String> {
    if let Some(old) = previous {
        state.db.delete_session(old)?;
    }
    let new = forge_auth::generate_session().map_err(ApiError::internal)?;
    let now = unix_now();
    state.db.create_session(
        &new.hash,
        user.id,
        &new.csrf_token,
        now,
        now + SESSION_LIFETIME_SECS,
    )?;
    if let Err(e) = state.db.touch_last_login(user.id) {
        log::warn!("could not record sign-in time: {e}");
    }
    Ok(cookie(
        SESSION_COOKIE,
        new.id.expose(),
        Some(SESSION_LIFETIME_SECS),
        secure,
    ))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    cookie(SESSION_COOKIE, "", Some(0), secure)
}

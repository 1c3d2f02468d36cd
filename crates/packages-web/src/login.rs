//! Signing in and out: `/user/login` and `/user/logout`.
//!
//! The password is checked by the same code as Basic authentication, on the blocking pool.
//! Failed attempts are counted per account and per client address; past the limit the form
//! answers 429 without looking at the password.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;

use super::layout::{page, redirect, respond, PageError, PageResult};
use super::session::{
    clear_session_cookie, may_sign_in, start_session, RequestCookies, Viewer, CSRF_FIELD,
};
use super::PostedForm;
use packages_api::auth::authenticate_password;
use packages_api::blocking;
use packages_api::state::AppState;
use packages_api::urls::{query_pairs as parse_query, query_value};

/// Where to go after signing in: only a path of this site, never another site
/// (`//host`, `/\host`, schemes).
fn local_target(to: Option<&str>) -> String {
    match to {
        Some(t)
            if t.starts_with('/')
                && !t.starts_with("//")
                && !t.starts_with("/\\")
                && !t.chars().any(char::is_control) =>
        {
            t.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn login_page(viewer: &Viewer, target: &str, user_name: &str, error: Option<&str>) -> maud::Markup {
    page(
        "Sign in",
        Some(viewer),
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error {
                p class="error" role="alert" { (e) }
            }
            form class="stack" method="post" action="/user/login" {
                input type="hidden" name=(CSRF_FIELD) value=(viewer.csrf);
                input type="hidden" name="redirect_to" value=(target);
                label for="user_name" { "User name" }
                input type="text" id="user_name" name="user_name" value=(user_name)
                    autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input type="password" id="password" name="password"
                    autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /user/login[?redirect_to=/path]`.
pub async fn form(req: HttpRequest, state: web::Data<AppState>) -> PageResult<HttpResponse> {
    let cookies = RequestCookies::of(&req);
    let target = local_target(query_value(&parse_query(req.query_string()), "redirect_to"));
    let state = state.into_inner();
    let viewer = blocking::run(move || Viewer::load(&state, &cookies)).await?;
    if viewer.user().is_some() {
        return Ok(redirect(&target).finish());
    }
    Ok(respond(
        StatusCode::OK,
        Some(&viewer),
        login_page(&viewer, &target, "", None),
    ))
}

/// `POST /user/login`: checks the form token, the attempt limits and the password, then
/// starts a new session (ending the one the browser had) and sends the browser on.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> PageResult<HttpResponse> {
    let form = PostedForm::read(&req, &body);
    let user_name = form.get("user_name").unwrap_or("").trim().to_owned();
    let password = forge_auth::Secret::new(form.get("password").unwrap_or(""));
    let target = local_target(form.get("redirect_to"));
    let state = state.into_inner();
    let (viewer, outcome) = blocking::run(move || {
        let viewer = form.viewer(&state)?;
        if user_name.is_empty() || password.is_empty() {
            return Ok((
                viewer,
                Err((user_name, "Enter your user name and password.")),
            ));
        }
        // The password-guessing limits (per account and per client address, shared by
        // every path that takes a password) apply here: past them, a 429.
        let user = match authenticate_password(&state, &user_name, password.expose()) {
            Ok(auth) => auth.doer,
            Err(packages_service::ServiceError::BadCredentials) => None,
            Err(e) => return Err(e.into()),
        };
        let Some(user) = user else {
            return Ok((viewer, Err((user_name, "Wrong user name or password."))));
        };
        if !may_sign_in(&user) {
            return Ok((viewer, Err((user_name, "This account may not sign in."))));
        }
        let cookie = start_session(&state, &user, viewer.session_hash.as_deref(), viewer.secure)?;
        Ok((viewer, Ok(cookie)))
    })
    .await?;
    match outcome {
        Ok(cookie) => Ok(redirect(&target)
            .append_header((header::SET_COOKIE, cookie))
            .finish()),
        Err((user_name, message)) => Ok(respond(
            StatusCode::OK,
            Some(&viewer),
            login_page(&viewer, &target, &user_name, Some(message)),
        )),
    }
}

/// `POST /user/logout`: ends the session (form token required) and removes the cookie.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> PageResult<HttpResponse> {
    let form = PostedForm::read(&req, &body);
    let secure = form.cookies.secure;
    let state = state.into_inner();
    blocking::run(move || {
        let viewer = form.viewer(&state)?;
        if let Some(hash) = &viewer.session_hash {
            state.db.delete_session(hash)?;
        }
        Ok(())
    })
    .await
    .map_err(PageError)?;
    Ok(redirect("/")
        .append_header((header::SET_COOKIE, clear_session_cookie(secure)))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::local_target;

    #[test]
    fn only_local_targets() {
        assert_eq!(local_target(Some("/alice/-/packages")), "/alice/-/packages");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "",
            "x",
        ] {
            assert_eq!(local_target(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_target(None), "/");
    }
}

//! The frame of every page, the HTML response with its security headers, the error pages,
//! and small formatting helpers.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use maud::{html, Markup, DOCTYPE};

use super::session::{Viewer, CSRF_FIELD};
use packages_api::error::ApiError;

/// Pages load nothing but our own stylesheet and script; no inline script can run, so text
/// that slipped through escaping still could not execute.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; script-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A complete page around `body`; `viewer` decides the navigation.
pub fn page(title: &str, viewer: Option<&Viewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · Packages" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/copy.js" defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    nav aria-label="Site" {
                        a class="brand" href="/" { "Packages" }
                        @if let Some(viewer) = viewer {
                            @if let Some(user) = viewer.user() {
                                a href={ "/" (user.name) "/-/packages" } { "My packages" }
                                a href="/user/settings/applications" { "Access tokens" }
                                form class="inline" method="post" action="/user/logout" {
                                    input type="hidden" name=(CSRF_FIELD) value=(viewer.csrf);
                                    button type="submit" { "Sign out " (user.name) }
                                }
                            } @else {
                                a href="/user/login" { "Sign in" }
                            }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// An HTML response with the headers every page has. Pages may show who is signed in and
/// tokens, so nothing is cached.
pub fn respond(status: StatusCode, viewer: Option<&Viewer>, markup: Markup) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    if let Some(viewer) = viewer {
        viewer.apply_cookies(&mut builder);
    }
    builder
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(markup.into_string())
}

/// A `303 See Other` to a path of this site.
pub fn redirect(to: &str) -> actix_web::HttpResponseBuilder {
    let mut builder = HttpResponse::SeeOther();
    builder
        .insert_header((header::LOCATION, to.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    builder
}

/// An error shown as a page. The status comes from [`ApiError`]'s one mapping; the text
/// is the same short public message a JSON error would carry, never more.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PageError(#[from] pub ApiError);

impl From<packages_db::DbError> for PageError {
    fn from(e: packages_db::DbError) -> Self {
        PageError(e.into())
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.0.log();
        let status = self.status_code();
        let (heading, advice) = match status {
            StatusCode::NOT_FOUND => (
                "Not found",
                "There is nothing here, or you may not see it. Signing in may help.",
            ),
            StatusCode::FORBIDDEN => ("Not allowed", "You may not do this."),
            StatusCode::TOO_MANY_REQUESTS => ("Too many attempts", "Wait a while, then try again."),
            s if s.is_server_error() => (
                "Something went wrong",
                "The server could not answer this request. Try again later.",
            ),
            _ => ("That did not work", "Go back and check what you entered."),
        };
        let markup = page(
            heading,
            None,
            html! {
                h1 { (heading) }
                p class="error" { (self.0.public_message()) }
                p { (advice) }
                p { a href="/" { "Back to the start page" } }
            },
        );
        let mut response = respond(status, None, markup);
        if let ApiError::TooManyRequests { retry_after_secs } = self.0 {
            if let Ok(v) = header::HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// Text to copy (a command, a token) in a `<pre>`, with a copy button that the script shows;
/// without scripts the text is there to select.
pub fn copy_block(id: &str, label: &str, text: &str) -> Markup {
    html! {
        div class="command" {
            p {
                strong id={ (id) "-label" } { (label) } " "
                button type="button" class="secondary" data-copy=(id) aria-describedby={ (id) "-label" } hidden { "Copy" }
                " " span id={ (id) "-status" } role="status" aria-live="polite" {}
            }
            pre id=(id) tabindex="0" aria-labelledby={ (id) "-label" } { (text) }
        }
    }
}

/// Result of a page handler.
pub type PageResult<T> = Result<T, PageError>;

/// For pages that read: a refusal is shown exactly like a missing thing, so a page never
/// tells whether a private owner or package exists.
pub fn hidden(e: impl Into<ApiError>) -> ApiError {
    let e = e.into();
    match e {
        ApiError::BadCredentials | ApiError::Unauthorized(_) | ApiError::Forbidden(_) => {
            ApiError::NotFound("not found")
        }
        ApiError::NotFound(_) => ApiError::NotFound("not found"),
        other => other,
    }
}

/// `1536` → `1.5 KiB`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `2026-11-29 07:25 UTC`.
pub fn format_time(unix: i64) -> String {
    let t = packages_core::clock::rfc3339(unix);
    format!("{} {} UTC", &t[..10], &t[11..16])
}

/// The machine-readable form for `<time datetime>`.
pub fn machine_time(unix: i64) -> String {
    packages_core::clock::rfc3339(unix)
}

/// Everything but the unreserved characters of RFC 3986.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Escapes a query-string value (`&`, `=`, `+` and the rest are encoded).
pub fn query_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// Escapes one URL path segment.
pub fn seg(s: &str) -> String {
    packages_api::urls::path_escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(machine_time(86_461), "1970-01-02T00:01:01Z");
    }

    #[test]
    fn refusals_look_like_missing_things() {
        for e in [
            ApiError::Unauthorized("x"),
            ApiError::Forbidden("y"),
            ApiError::BadCredentials,
            ApiError::NotFound("owner does not exist"),
        ] {
            assert_eq!(hidden(e).public_message(), "not found");
        }
    }
}

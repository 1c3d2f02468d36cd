//! The web interface: server-rendered pages (maud templates compiled into the binary), one
//! stylesheet and one small script for copy buttons. Every page works without JavaScript.
//!
//! Pages decide access with the same code as the API ([`packages_service::access`]); a page a viewer may
//! not read answers the same 404 as one that does not exist. Routes are registered in
//! [`configure`], after the API's, so nothing here can shadow `/api/…`.

mod assets;
mod browse;
mod cleanup_rules;
mod delete;
mod layout;
mod login;
mod owner_admin;
mod session;
mod tokens;
mod usage;
mod version;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

pub use layout::PageError;
pub use session::{CSRF_COOKIE, CSRF_FIELD, SESSION_COOKIE, SESSION_LIFETIME_SECS};

use packages_api::error::ApiError;

/// Registers every page of the web interface.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(browse::home))
        .route("/assets/style.css", web::get().to(assets::style))
        .route("/assets/copy.js", web::get().to(assets::script))
        .service(
            web::resource("/user/login")
                .route(web::get().to(login::form))
                .route(web::post().to(login::submit)),
        )
        .route("/user/logout", web::post().to(login::logout))
        .service(
            web::resource("/user/settings/applications")
                .route(web::get().to(tokens::page_handler))
                .route(web::post().to(tokens::create)),
        )
        .route(
            "/user/settings/applications/delete",
            web::post().to(tokens::delete),
        )
        .route("/{owner}/-/packages", web::get().to(browse::owner))
        .route(
            "/{owner}/-/packages/usage",
            web::get().to(usage::page_handler),
        )
        // Before `{type}/{name}/{version}`, which it would match: no format is called so.
        .route(
            "/{owner}/-/packages/cleanup-rules/{id}/preview",
            web::get().to(cleanup_rules::preview),
        )
        .route(
            "/{owner}/-/packages/{type}/{name}/{version}",
            web::get().to(version::page_handler),
        )
        .service(
            web::resource("/{owner}/-/packages/{type}/{name}/{version}/delete")
                .route(web::get().to(delete::confirm))
                .route(web::post().to(delete::submit)),
        );
}

/// The answer for a path no route takes: a page for browsers, the registry's plain
/// `404 page not found` for everything else (API clients match on it).
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && !req.path().starts_with("/api/") {
        Err(PageError(ApiError::NoRoute).into())
    } else {
        Err(ApiError::NoRoute.into())
    }
}

/// A posted form (`application/x-www-form-urlencoded`) with the request's cookies, ready to
/// go to a blocking thread.
struct PostedForm {
    cookies: session::RequestCookies,
    fields: Vec<(String, String)>,
}

impl PostedForm {
    fn read(req: &HttpRequest, body: &[u8]) -> PostedForm {
        PostedForm {
            cookies: session::RequestCookies::of(req),
            fields: packages_api::urls::query_pairs(&String::from_utf8_lossy(body)),
        }
    }

    /// The first value of a field.
    fn get(&self, name: &str) -> Option<&str> {
        packages_api::urls::query_value(&self.fields, name)
    }

    /// Every value of a field (checkboxes).
    fn all(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Finds the viewer and checks the form's token (403 when it does not match). Blocking.
    fn viewer(
        &self,
        state: &packages_api::state::AppState,
    ) -> packages_api::error::ApiResult<session::Viewer> {
        let viewer = session::Viewer::load(state, &self.cookies)?;
        viewer.check_csrf(self.get(CSRF_FIELD))?;
        Ok(viewer)
    }
}

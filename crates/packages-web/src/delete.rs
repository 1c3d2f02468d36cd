//! Deleting a file or a whole version from the web interface: a confirmation page (GET)
//! whose form (POST, with the form token) does it. Works without JavaScript.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::html;
use packages_core::{lower, AccessMode};

use super::layout::{page, query_escape, redirect, respond, seg, PageResult};
use super::session::{RequestCookies, Viewer, CSRF_FIELD};
use super::version::{find, version_href, VersionView};
use super::PostedForm;
use packages_api::blocking;
use packages_api::error::{ApiError, ApiResult};
use packages_api::state::AppState;
use packages_api::urls::{query_pairs as parse_query, query_value};
use packages_service::{access, packages, ServiceError};

type VersionPath = web::Path<(String, String, String, String)>;

/// What the viewer may do here: read was checked by [`find`] (hidden 404); deleting needs
/// write access (403, as the owner is visible to the viewer). Blocking.
fn writable(
    state: &AppState,
    viewer: &Viewer,
    path: &(String, String, String, String),
) -> ApiResult<VersionView> {
    let (owner, ptype, name, version) = path;
    let view = find(state, viewer, owner, ptype, name, version)?;
    if viewer.user().is_none() {
        return Err(ApiError::Unauthorized("sign in to delete packages"));
    }
    if !access::allows(state, &viewer.auth, &view.owner, AccessMode::Write)? {
        return Err(ApiError::Forbidden(
            "you may not delete this owner's packages",
        ));
    }
    Ok(view)
}

/// `GET …/{version}/delete[?file=NAME]`: asks before deleting.
pub async fn confirm(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: VersionPath,
) -> PageResult<HttpResponse> {
    let cookies = RequestCookies::of(&req);
    let file = query_value(&parse_query(req.query_string()), "file").map(str::to_owned);
    let path = path.into_inner();
    let state = state.into_inner();
    let f = file.clone();
    let outcome = blocking::run(move || {
        let viewer = Viewer::load(&state, &cookies)?;
        let view = writable(&state, &viewer, &path)?;
        if let Some(file) = &f {
            let files = state.db.version_files(view.listing.version.id)?;
            if !files.iter().any(|(row, _)| row.lower_name == lower(file)) {
                return Err(ApiError::NotFound("package file does not exist"));
            }
        }
        Ok((viewer, view))
    })
    .await;
    let (viewer, view) = match outcome {
        // Someone not signed in who may read the package: sign in, then come back here.
        Err(ApiError::Unauthorized(_)) => {
            let back = match req.query_string() {
                "" => req.path().to_owned(),
                q => format!("{}?{q}", req.path()),
            };
            return Ok(
                redirect(&format!("/user/login?redirect_to={}", query_escape(&back))).finish(),
            );
        }
        other => other?,
    };
    let p = &view.listing.package;
    let v = &view.listing.version;
    let here = version_href(&view.owner.name, &p.package_type, &p.name, &v.version);
    let title = match &file {
        Some(f) => format!("Delete {f}?"),
        None => format!("Delete {} {}?", p.name, v.version),
    };
    let body = html! {
        h1 { (title) }
        @if let Some(f) = &file {
            p { "The file " code { (f) } " of " (p.name) " " (v.version)
                " will be deleted. If it is the version's last file, the version goes too. This cannot be undone." }
        } @else {
            p { "Version " (v.version) " of " (p.name) " and all its files will be deleted. This cannot be undone." }
        }
        form class="danger-zone" method="post" action={ (here) "/delete" } {
            input type="hidden" name=(CSRF_FIELD) value=(viewer.csrf);
            @if let Some(f) = &file {
                input type="hidden" name="file" value=(f);
            }
            button type="submit" { "Delete" }
            " "
            a href=(here) { "Cancel" }
        }
    };
    Ok(respond(
        StatusCode::OK,
        Some(&viewer),
        page(&title, Some(&viewer), body),
    ))
}

/// `POST …/{version}/delete`: deletes the file named in the form, or the version.
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: VersionPath,
    body: web::Bytes,
) -> PageResult<HttpResponse> {
    let form = PostedForm::read(&req, &body);
    let file = form.get("file").map(str::to_owned);
    let path = path.into_inner();
    let state = state.into_inner();
    let to = blocking::run(move || {
        let viewer = form.viewer(&state)?;
        let view = writable(&state, &viewer, &path).map_err(|e| match e {
            ApiError::Unauthorized(m) => ApiError::Forbidden(m),
            other => other,
        })?;
        let p = &view.listing.package;
        let v = &view.listing.version;
        let owner_page = format!("/{}/-/packages", seg(&view.owner.name));
        match file {
            Some(file) => {
                let deleted = packages::delete_file(
                    &state,
                    view.owner.id,
                    view.format,
                    &p.name,
                    &v.version,
                    &file,
                );
                match deleted {
                    Ok(false) => Ok(version_href(
                        &view.owner.name,
                        &p.package_type,
                        &p.name,
                        &v.version,
                    )),
                    Ok(true) => Ok(owner_page),
                    // The page found the version a moment ago: whatever went, the file is gone.
                    Err(ServiceError::NotFound(_)) => Err(ApiError::NotFound(packages::NO_FILE)),
                    Err(e) => Err(e.into()),
                }
            }
            None => {
                packages::delete_version(&state, view.owner.id, view.format, &p.name, &v.version)?;
                Ok(owner_page)
            }
        }
    })
    .await?;
    Ok(redirect(&to).finish())
}

//! `/user/settings/applications`: the signed-in user's access tokens. Creating and deleting
//! go through the same service functions as `/api/v1/users/{username}/tokens`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::{ScopeCategory, TokenScopes};
use maud::{html, Markup};
use packages_db::AccessToken;

use super::layout::{copy_block, format_time, page, redirect, respond, PageError, PageResult};
use super::session::{RequestCookies, Viewer, CSRF_FIELD};
use super::PostedForm;
use packages_api::blocking;
use packages_api::error::ApiError;
use packages_api::state::AppState;
use packages_service::accounts::{create_token, delete_token, parse_scopes};
use packages_service::ServiceError;

const HERE: &str = "/user/settings/applications";

/// The sign-in page, coming back here afterwards.
fn sign_in_first() -> HttpResponse {
    redirect(&format!("/user/login?redirect_to={HERE}")).finish()
}

/// What the page shows besides the list.
enum Outcome {
    Nothing,
    /// The new token's name and secret, shown once.
    Created(String, String),
    Refused(String),
}

fn tokens_page(viewer: &Viewer, tokens: &[AccessToken], outcome: &Outcome) -> Markup {
    page(
        "Access tokens",
        Some(viewer),
        html! {
            h1 { "Access tokens" }
            p { "Tokens let tools such as curl, CI jobs and package clients act as you. Give each one only the scopes it needs." }
            @match outcome {
                Outcome::Created(name, secret) => {
                    div class="notice" role="status" {
                        p { "Token " strong { (name) } " was created. Copy it now: it will not be shown again." }
                        (copy_block("new-token", "New token", secret))
                    }
                }
                Outcome::Refused(message) => {
                    p class="error" role="alert" { (message) }
                }
                Outcome::Nothing => {}
            }
            h2 { "Your tokens" }
            @if tokens.is_empty() {
                p class="muted" { "You have no tokens." }
            } @else {
                div class="table-wrap" {
                    table {
                        thead {
                            tr {
                                th scope="col" { "Name" }
                                th scope="col" { "Scopes" }
                                th scope="col" class="optional" { "Ends with" }
                                th scope="col" class="optional" { "Created" }
                                th scope="col" { span class="offscreen" { "Actions" } }
                            }
                        }
                        tbody {
                            @for t in tokens {
                                tr {
                                    td { (t.name) }
                                    td { (scope_names(&t.scope)) }
                                    td class="optional" { code { "…" (t.token_last_eight) } }
                                    td class="optional" { (format_time(t.created_unix)) }
                                    td {
                                        form class="inline" method="post" action={ (HERE) "/delete" } {
                                            input type="hidden" name=(CSRF_FIELD) value=(viewer.csrf);
                                            input type="hidden" name="id" value=(t.id);
                                            button type="submit" class="danger" { "Delete" span class="offscreen" { " " (t.name) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "New token" }
            form class="stack" method="post" action=(HERE) {
                input type="hidden" name=(CSRF_FIELD) value=(viewer.csrf);
                label for="token-name" { "Name" }
                input type="text" id="token-name" name="name" required maxlength="255";
                fieldset {
                    legend { "Scopes" }
                    div class="scopes" {
                        @for category in ScopeCategory::ALL {
                            @for level in ["read", "write"] {
                                @let scope = format!("{level}:{}", category.as_str());
                                label {
                                    input type="checkbox" name="scope" value=(scope);
                                    " " (scope)
                                }
                            }
                        }
                        label {
                            input type="checkbox" name="scope" value="public-only";
                            " public-only"
                        }
                    }
                    p class="hint" { "write includes read. public-only limits the token to public owners." }
                }
                button type="submit" { "Create token" }
            }
        },
    )
}

fn scope_names(stored: &str) -> String {
    TokenScopes::parse(stored)
        .map(|s| s.names().join(", "))
        .unwrap_or_default()
}

/// `GET /user/settings/applications`.
pub async fn page_handler(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> PageResult<HttpResponse> {
    let cookies = RequestCookies::of(&req);
    let state = state.into_inner();
    let (viewer, tokens) = blocking::run(move || {
        let viewer = Viewer::load(&state, &cookies)?;
        let tokens = match viewer.user() {
            Some(user) => state.db.list_tokens(user.id)?,
            None => Vec::new(),
        };
        Ok((viewer, tokens))
    })
    .await?;
    if viewer.user().is_none() {
        return Ok(sign_in_first());
    }
    Ok(respond(
        StatusCode::OK,
        Some(&viewer),
        tokens_page(&viewer, &tokens, &Outcome::Nothing),
    ))
}

/// `POST /user/settings/applications`: creates a token and shows it once.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> PageResult<HttpResponse> {
    let form = PostedForm::read(&req, &body);
    let name = form.get("name").unwrap_or("").to_owned();
    let scopes = form.all("scope");
    let state = state.into_inner();
    let (viewer, outcome, tokens) = blocking::run(move || {
        let viewer = form.viewer(&state)?;
        let Some(user) = viewer.user() else {
            return Ok((viewer, None, Vec::new()));
        };
        let created = parse_scopes(&scopes).and_then(|s| create_token(&state.db, user, &name, &s));
        let outcome = match created {
            Ok((row, secret)) => Outcome::Created(row.name, secret.expose().to_owned()),
            Err(ServiceError::BadInput(message)) => Outcome::Refused(message),
            Err(e) => return Err(e.into()),
        };
        let tokens = state.db.list_tokens(user.id)?;
        Ok((viewer, Some(outcome), tokens))
    })
    .await?;
    let Some(outcome) = outcome else {
        return Ok(sign_in_first());
    };
    let status = match outcome {
        Outcome::Refused(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    Ok(respond(
        status,
        Some(&viewer),
        tokens_page(&viewer, &tokens, &outcome),
    ))
}

/// `POST /user/settings/applications/delete`: deletes the token with the form's `id`.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> PageResult<HttpResponse> {
    let form = PostedForm::read(&req, &body);
    let id = form.get("id").unwrap_or("").to_owned();
    let state = state.into_inner();
    let signed_in = blocking::run(move || {
        let viewer = form.viewer(&state)?;
        let Some(user) = viewer.user() else {
            return Ok(false);
        };
        // Only by id: a form never names a token another way.
        if id.parse::<i64>().is_err() {
            return Err(ApiError::NotFound("access token does not exist"));
        }
        delete_token(&state.db, user, &id)?;
        Ok(true)
    })
    .await
    .map_err(PageError)?;
    if !signed_in {
        return Ok(sign_in_first());
    }
    Ok(redirect(HERE).finish())
}

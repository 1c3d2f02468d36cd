//! The owner's package cleanup rules on the usage page, and
//! `GET /{owner}/-/packages/cleanup-rules/{id}/preview`: the versions a rule would remove
//! now. For the owner's administrators and site administrators, like the usage page; rules
//! are changed through the API or the command line.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use packages_db::{CleanupRule, User};

use super::layout::{format_time, page, respond, seg, PageResult};
use super::owner_admin::administered_owner;
use super::session::RequestCookies;
use packages_api::blocking;
use packages_api::error::ApiError;
use packages_api::state::AppState;
use packages_service::cleanup_rules;

fn preview_href(owner: &User, rule: &CleanupRule) -> String {
    format!(
        "/{}/-/packages/cleanup-rules/{}/preview",
        seg(&owner.name),
        rule.id
    )
}

/// The rules as a table, each with a link to its preview.
pub fn section(owner: &User, rules: &[CleanupRule]) -> Markup {
    html! {
        h2 { "Cleanup rules" }
        @if rules.is_empty() {
            p class="muted" { "No cleanup rules." }
        } @else {
            table {
                thead { tr {
                    th { "Type" } th { "Enabled" } th { "Keep newest" } th { "Keep matching" }
                    th { "Older than (days)" } th { "Remove matching" } th { "Full name" } th {}
                } }
                tbody {
                    @for rule in rules {
                        tr {
                            td { (rule.package_type) }
                            td { @if rule.enabled { "yes" } @else { "no" } }
                            td { (rule.keep_count) }
                            td { code { (rule.keep_pattern) } }
                            td { (rule.remove_days) }
                            td { code { (rule.remove_pattern) } }
                            td { @if rule.match_full_name { "yes" } @else { "no" } }
                            td { a href=(preview_href(owner, rule)) { "Preview" } }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /{owner}/-/packages/cleanup-rules/{id}/preview`.
pub async fn preview(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> PageResult<HttpResponse> {
    let cookies = RequestCookies::of(&req);
    let (owner_name, id) = path.into_inner();
    let state = state.into_inner();
    let (viewer, owner, rule, removals) = blocking::run(move || {
        let (viewer, owner) = administered_owner(&state, &cookies, &owner_name)?;
        let id = id
            .parse()
            .map_err(|_| ApiError::NotFound(cleanup_rules::NO_RULE))?;
        let rule = cleanup_rules::find(&state.db, &owner, id)?;
        let removals = cleanup_rules::preview(&state.db, &rule)?;
        Ok((viewer, owner, rule, removals))
    })
    .await?;
    let body = html! {
        p class="muted" {
            a href={ "/" (seg(&owner.name)) "/-/packages" } { (owner.name) }
            " · "
            a href={ "/" (seg(&owner.name)) "/-/packages/usage" } { "Storage and cleanup rules" }
        }
        h1 { "Cleanup rule " (rule.id) ": " (rule.package_type) " packages" }
        p {
            @if rule.enabled { "Enabled. " } @else { "Disabled: it removes nothing until enabled. " }
            "Applied now, it would remove " (removals.len()) " versions."
        }
        @if !removals.is_empty() {
            table {
                thead { tr { th { "Package" } th { "Version" } th { "Created" } } }
                tbody {
                    @for r in &removals {
                        tr {
                            td { (r.package) }
                            td { a href={ "/" (seg(&owner.name)) "/-/packages/" (seg(&r.package_type)) "/" (seg(&r.package)) "/" (seg(&r.version)) } { (r.version) } }
                            td { (format_time(r.created_unix)) }
                        }
                    }
                }
            }
        }
    };
    let title = format!("Cleanup rule {} of {}", rule.id, owner.name);
    Ok(respond(
        StatusCode::OK,
        Some(&viewer),
        page(&title, Some(&viewer), body),
    ))
}

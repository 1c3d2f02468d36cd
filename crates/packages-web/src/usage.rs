//! `GET /{owner}/-/packages/usage`: what the owner's packages take against the owner's
//! limits, as bars drawn on the server (inline SVG, no script), and the owner's cleanup
//! rules. For the owner (or the organisation's owners and administrators) and site
//! administrators.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use packages_core::Limit;
use packages_db::PackageUsage;

use super::layout::{format_size, page, respond, seg, PageResult};
use super::owner_admin::administered_owner;
use super::session::RequestCookies;
use packages_api::blocking;
use packages_api::state::AppState;

/// Width of the chart's coordinate system; it scales to the page.
const WIDTH: u32 = 720;
const LABEL_WIDTH: u32 = 220;
const VALUE_WIDTH: u32 = 110;
const ROW_HEIGHT: u32 = 28;

/// `GET /{owner}/-/packages/usage`.
pub async fn page_handler(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> PageResult<HttpResponse> {
    let cookies = RequestCookies::of(&req);
    let owner_name = path.into_inner();
    let state = state.into_inner();
    let (viewer, owner, packages, versions, bytes, limits, rules) = blocking::run(move || {
        let (viewer, owner) = administered_owner(&state, &cookies, &owner_name)?;
        let packages = state.db.package_usage(owner.id)?;
        let (versions, bytes) = state.db.owner_usage(owner.id)?;
        let rules = packages_service::cleanup_rules::list(&state.db, &owner)?;
        Ok((
            viewer,
            owner,
            packages,
            versions,
            bytes,
            state.settings.limits.clone(),
            rules,
        ))
    })
    .await?;
    let size_limit = match limits.total_owner_size {
        Limit::AtMost(n) => Some(n),
        Limit::None => None,
    };
    let count_limit = match limits.total_owner_count {
        Limit::AtMost(n) => Some(n),
        Limit::None => None,
    };
    // Bars are measured against the quota when there is one, else against the largest package.
    let scale = size_limit
        .unwrap_or_else(|| packages.iter().map(|p| p.bytes).max().unwrap_or(0))
        .max(1);
    let body = html! {
        p class="muted" { a href={ "/" (seg(&owner.name)) "/-/packages" } { (owner.name) } }
        h1 { "Storage used by " (owner.name) }
        dl class="facts" {
            dt { "Files" }
            dd { (format_size(bytes)) @if let Some(l) = size_limit { " of " (format_size(l)) } @else { " (no limit)" } }
            dt { "Versions" }
            dd { (versions) @if let Some(l) = count_limit { " of " (l) } @else { " (no limit)" } }
        }
        p class="hint" { "Site administrators are not held to these limits." }
        h2 { "By package" }
        @if packages.is_empty() {
            p class="muted" { "No packages yet." }
        } @else {
            (chart(&packages, scale))
        }
        (super::cleanup_rules::section(&owner, &rules))
    };
    let title = format!("Storage used by {}", owner.name);
    Ok(respond(
        StatusCode::OK,
        Some(&viewer),
        page(&title, Some(&viewer), body),
    ))
}

/// One bar per package, with its name and size as text so the chart reads without colour.
fn chart(packages: &[PackageUsage], scale: u64) -> Markup {
    let bar_width = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let height = ROW_HEIGHT * packages.len() as u32;
    html! {
        svg class="usage" xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={ "0 0 " (WIDTH) " " (height) } aria-labelledby="usage-title" {
            title id="usage-title" { "Storage used per package" }
            @for (i, p) in packages.iter().enumerate() {
                @let y = ROW_HEIGHT * i as u32;
                @let filled = ((p.bytes as f64 / scale as f64).min(1.0) * f64::from(bar_width)).round() as u32;
                g {
                    title { (p.package.name) " (" (p.package.package_type) "): " (format_size(p.bytes)) ", " (p.versions) " versions" }
                    text x="0" y=(y + 18) { (truncate(&p.package.name, 28)) }
                    rect class="track" x=(LABEL_WIDTH) y=(y + 6) width=(bar_width) height="16" rx="3" {}
                    rect class="fill" x=(LABEL_WIDTH) y=(y + 6) width=(filled) height="16" rx="3" {}
                    text x=(LABEL_WIDTH + bar_width + 8) y=(y + 18) { (format_size(p.bytes)) }
                }
            }
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

//! Lists of packages: `/` (every owner the viewer may see) and `/{owner}/-/packages`, each
//! with a type filter, a search and pages (`?type=…&q=…&page=…`, Forgejo's shape).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use packages_core::{lower, AccessMode};
use packages_db::{PackageSearch, Page, User, VersionFilter, VersionListing};

use super::layout::{
    format_time, hidden, machine_time, page, query_escape, respond, seg, PageResult,
};
use super::session::{RequestCookies, Viewer};
use packages_api::blocking;
use packages_api::formats::Formats;
use packages_api::state::AppState;
use packages_api::urls::{query_pairs as parse_query, query_value};
use packages_service::access;

/// Packages per page.
const PAGE_SIZE: u64 = 20;

/// What a list page asks for.
#[derive(Debug, Clone, Default)]
struct ListQuery {
    q: String,
    ptype: String,
    page: u64,
}

impl ListQuery {
    fn of(req: &HttpRequest) -> ListQuery {
        let pairs = parse_query(req.query_string());
        ListQuery {
            q: query_value(&pairs, "q").unwrap_or("").trim().to_owned(),
            ptype: query_value(&pairs, "type").unwrap_or("").trim().to_owned(),
            page: query_value(&pairs, "page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1u64)
                .max(1),
        }
    }

    fn filter(&self) -> VersionFilter {
        VersionFilter {
            package_type: Some(self.ptype.clone()).filter(|t| !t.is_empty() && t != "all"),
            query: Some(self.q.clone()).filter(|q| !q.is_empty()),
            name: None,
        }
    }

    fn db_page(&self) -> Page {
        Page {
            page: self.page,
            limit: PAGE_SIZE,
        }
    }

    /// The query string of another page of the same list.
    fn link(&self, page: u64) -> String {
        format!(
            "?type={}&q={}&page={page}",
            query_escape(&self.ptype),
            query_escape(&self.q)
        )
    }
}

/// One row of a list: a package with its newest version and its owner's name.
struct Row {
    owner: String,
    listing: VersionListing,
}

/// `GET /`: search over every package the viewer may see; newest uploads first.
pub async fn home(req: HttpRequest, state: web::Data<AppState>) -> PageResult<HttpResponse> {
    let cookies = RequestCookies::of(&req);
    let query = ListQuery::of(&req);
    let formats = state.formats.clone();
    let state = state.into_inner();
    let q = query.clone();
    let (viewer, rows, total) = blocking::run(move || {
        let viewer = Viewer::load(&state, &cookies)?;
        let mut visible: Vec<User> = Vec::new();
        for owner in state.db.package_owners()? {
            if access::allows(&state, &viewer.auth, &owner, AccessMode::Read)? {
                visible.push(owner);
            }
        }
        let needle = lower(&q.q);
        let search = PackageSearch {
            owner_ids: visible.iter().map(|o| o.id).collect(),
            owner_matches: visible
                .iter()
                .filter(|o| !needle.is_empty() && o.lower_name.contains(&needle))
                .map(|o| o.id)
                .collect(),
            filter: q.filter(),
        };
        let (listings, total) = state.db.search_packages(&search, q.db_page())?;
        let names: HashMap<i64, String> = visible.into_iter().map(|o| (o.id, o.name)).collect();
        let rows = listings
            .into_iter()
            .map(|listing| Row {
                owner: names
                    .get(&listing.package.owner_id)
                    .cloned()
                    .unwrap_or_default(),
                listing,
            })
            .collect::<Vec<_>>();
        Ok((viewer, rows, total))
    })
    .await?;
    let body = html! {
        h1 { "Packages" }
        (search_form(&formats, "/", &query, "Search packages, types and owners"))
        (package_table(&rows, true, total, &query))
    };
    Ok(respond(
        StatusCode::OK,
        Some(&viewer),
        page("Packages", Some(&viewer), body),
    ))
}

/// `GET /{owner}/-/packages`: the owner's packages, for viewers who may read them.
pub async fn owner(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> PageResult<HttpResponse> {
    let cookies = RequestCookies::of(&req);
    let query = ListQuery::of(&req);
    let owner_name = path.into_inner();
    let formats = state.formats.clone();
    let state = state.into_inner();
    let q = query.clone();
    let (viewer, owner, rows, total, manages) = blocking::run(move || {
        let viewer = Viewer::load(&state, &cookies)?;
        let access = access::authorize_owner(&state, &viewer.auth, &owner_name, AccessMode::Read)
            .map_err(hidden)?;
        let search = PackageSearch {
            owner_ids: vec![access.owner.id],
            owner_matches: Vec::new(),
            filter: q.filter(),
        };
        let (listings, total) = state.db.search_packages(&search, q.db_page())?;
        let rows = listings
            .into_iter()
            .map(|listing| Row {
                owner: access.owner.name.clone(),
                listing,
            })
            .collect::<Vec<_>>();
        let manages = access.mode >= AccessMode::Admin || viewer.is_admin();
        Ok((viewer, access.owner, rows, total, manages))
    })
    .await?;
    let here = format!("/{}/-/packages", seg(&owner.name));
    let body = html! {
        h1 { "Packages of " (owner.name) }
        @if manages {
            p { a href={ (here) "/usage" } { "Storage used" } }
        }
        (search_form(&formats, &here, &query, "Search this owner's packages"))
        (package_table(&rows, false, total, &query))
    };
    let title = format!("Packages of {}", owner.name);
    Ok(respond(
        StatusCode::OK,
        Some(&viewer),
        page(&title, Some(&viewer), body),
    ))
}

fn search_form(formats: &Formats, action: &str, query: &ListQuery, label: &str) -> Markup {
    html! {
        form class="search" method="get" action=(action) role="search" {
            div {
                label for="q" { (label) }
                input type="search" id="q" name="q" value=(query.q);
            }
            div {
                label for="type" { "Type" }
                select id="type" name="type" {
                    option value="" selected[query.ptype.is_empty()] { "All types" }
                    @for t in formats.type_names() {
                        option value=(t) selected[query.ptype == t] { (t) }
                    }
                }
            }
            button type="submit" { "Search" }
        }
    }
}

fn package_table(rows: &[Row], show_owner: bool, total: u64, query: &ListQuery) -> Markup {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    html! {
        @if rows.is_empty() {
            p class="muted" { "No packages found." }
        } @else {
            div class="table-wrap" {
                table {
                    caption { (total) " packages, newest uploads first" }
                    thead {
                        tr {
                            th scope="col" { "Package" }
                            @if show_owner { th scope="col" { "Owner" } }
                            th scope="col" { "Type" }
                            th scope="col" { "Newest version" }
                            th scope="col" class="optional" { "Published" }
                        }
                    }
                    tbody {
                        @for row in rows {
                            @let p = &row.listing.package;
                            @let v = &row.listing.version;
                            @let href = format!("/{}/-/packages/{}/{}/{}", seg(&row.owner), seg(&p.package_type), seg(&p.name), seg(&v.version));
                            tr {
                                td { a href=(href) { (p.name) } }
                                @if show_owner {
                                    td { a href={ "/" (seg(&row.owner)) "/-/packages" } { (row.owner) } }
                                }
                                td { (p.package_type) }
                                td { (v.version) }
                                td class="optional" { time datetime=(machine_time(v.created_unix)) { (format_time(v.created_unix)) } }
                            }
                        }
                    }
                }
            }
            @if pages > 1 {
                nav class="pages" aria-label="Pages" {
                    @if query.page > 1 {
                        a rel="prev" href=(query.link(query.page - 1)) { "Previous page" }
                    }
                    span { "Page " (query.page) " of " (pages) }
                    @if query.page < pages {
                        a rel="next" href=(query.link(query.page + 1)) { "Next page" }
                    }
                }
            }
        }
    }
}

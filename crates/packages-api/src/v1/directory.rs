//! Read-only routes Gitea clients call to find their way: the server version and API
//! settings, users and their organisations, organisations and their members.
//!
//! - `GET /version`, `GET /settings/api`;
//! - `GET /users/{username}`, `GET /users/search`, `GET /users/{username}/orgs`;
//! - `GET /user/orgs`, `GET /orgs`, `GET /orgs/{org}/members`;
//! - `GET /admin/users`, `GET /admin/orgs`.
//!
//! What a caller may see follows the owners' visibility as for packages: a private user or
//! organisation exists only for itself, its members and site admins, a limited one only for
//! signed-in callers.

use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::ScopeCategory;
use packages_core::{AccessMode, OwnerKind, Visibility};
use packages_db::{OwnerQuery, User};
use serde::Serialize;

use super::gate::{Caller, RequestFacts};
use super::orgs::visible_org;
use super::paging::{self, Paging, DEFAULT_LIMIT, MAX_LIMIT};
use super::users::admin_caller;
use crate::blocking;
use crate::error::{ApiError, ApiResult, JsonError};
use crate::state::AppState;
use packages_service::access;

/// The Gitea release whose API this server follows. Clients compare the version against
/// the releases that introduced a feature (package routes came with 1.17), so it leads the
/// string and this server's own version follows as build metadata.
pub const GITEA_API_VERSION: &str = "1.22.0";

/// Gitea's `ServerVersion`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerVersion {
    pub version: String,
}

/// `GET /api/v1/version` → 200; needs no credentials.
#[utoipa::path(
    get,
    path = "/api/v1/version",
    operation_id = "getVersion",
    tag = "miscellaneous",
    summary = "The Gitea API version this server follows, with its own version as build metadata",
    responses(
        (status = 200, description = "the version", body = ServerVersion)
    )
)]
pub async fn version() -> HttpResponse {
    HttpResponse::Ok().json(ServerVersion {
        version: format!(
            "{GITEA_API_VERSION}+forge-packages-{}",
            env!("CARGO_PKG_VERSION")
        ),
    })
}

/// Gitea's `GeneralAPISettings`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GeneralApiSettings {
    pub max_response_items: u64,
    pub default_paging_num: u64,
    pub default_git_trees_per_page: u64,
    pub default_max_blob_size: u64,
}

/// `GET /api/v1/settings/api` → 200 with the paging limits.
#[utoipa::path(
    get,
    path = "/api/v1/settings/api",
    operation_id = "getGeneralAPISettings",
    tag = "settings",
    summary = "Paging limits",
    responses(
        (status = 200, description = "the settings", body = GeneralApiSettings)
    )
)]
pub async fn api_settings() -> HttpResponse {
    HttpResponse::Ok().json(GeneralApiSettings {
        max_response_items: MAX_LIMIT,
        default_paging_num: DEFAULT_LIMIT,
        // Gitea's defaults; there are no repositories here.
        default_git_trees_per_page: 1000,
        default_max_blob_size: 10 * 1024 * 1024,
    })
}

/// Whether the caller may see `owner` at all: site admins see everyone.
fn sees(state: &AppState, caller: &Caller, owner: &User) -> ApiResult<bool> {
    Ok(caller.is_site_admin()
        || access::access_mode(state, &caller.auth, owner)? >= AccessMode::Read)
}

/// The visibilities listed to the caller: public to anonymous callers, public and limited
/// to signed-in ones, all to site admins (an empty list means all).
fn listed_visibilities(caller: &Caller) -> &'static [Visibility] {
    if caller.is_site_admin() {
        &[]
    } else if caller.auth.doer.is_some() {
        &[Visibility::Public, Visibility::Limited]
    } else {
        &[Visibility::Public]
    }
}

/// `GET /api/v1/users/{username}` → 200 with the user (or organisation shown as a user).
#[utoipa::path(
    get,
    path = "/api/v1/users/{username}",
    operation_id = "userGet",
    tag = "user",
    summary = "A user",
    params(
        ("username" = String, Path, description = "user name")
    ),
    responses(
        (status = 200, description = "the user", body = super::json::UserJson),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn user(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let name = path.into_inner();
    let json = super::gate::as_caller(&req, state, ScopeCategory::User, move |state, caller| {
        let user = state
            .db
            .user_by_name(&name)?
            .filter(|u| sees(state, &caller, u).unwrap_or(false))
            .ok_or(ApiError::NotFound("user does not exist"))?;
        Ok(caller.presenter.user(&user))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// Gitea's answer to a user search.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SearchResults<T> {
    ok: bool,
    data: Vec<T>,
}

/// `GET /api/v1/users/search?q=&uid=&page=&limit=` → 200 `{"ok": true, "data": [...]}`
/// with `X-Total-Count` and `Link`; users only, those the caller may see.
#[utoipa::path(
    get,
    path = "/api/v1/users/search",
    operation_id = "userSearch",
    tag = "user",
    summary = "Search users the caller may see",
    params(
        ("q" = Option<String>, Query, description = "part of the name or full name"),
        ("uid" = Option<i64>, Query, description = "a user id"),
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "`{\"ok\": true, \"data\": [users]}`", body = SearchResults<super::json::UserJson>)
    )
)]
pub async fn search_users(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, JsonError> {
    let base = crate::urls::Site::of(&req).base_url;
    let pairs = paging::parse_query(req.query_string());
    let paging = Paging::from_query(&pairs);
    let text = paging::query_value(&pairs, "q").unwrap_or("").to_owned();
    let uid = paging::query_value(&pairs, "uid")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|&id| id > 0);
    let (users, total) =
        super::gate::as_caller(&req, state, ScopeCategory::User, move |state, caller| {
            let query = OwnerQuery {
                kind: Some(OwnerKind::User),
                visibilities: listed_visibilities(&caller),
                also_id: caller.auth.doer.as_ref().map(|d| d.id),
                id: uid,
                text: Some(&text),
            };
            let (users, total) = state.db.search_owners(&query, paging.db_page())?;
            let json: Vec<_> = users.iter().map(|u| caller.presenter.user(u)).collect();
            Ok((json, total))
        })
        .await?;
    Ok(
        paging::paged(&req, &base, total, paging).json(SearchResults {
            ok: true,
            data: users,
        }),
    )
}

/// `GET /api/v1/user/orgs` → 200 with the caller's organisations, paged.
#[utoipa::path(
    get,
    path = "/api/v1/user/orgs",
    operation_id = "orgListCurrentUserOrgs",
    tag = "organization",
    summary = "The caller's organisations",
    params(
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "the organisations", body = Vec<super::json::OrgJson>)
    )
)]
pub async fn my_orgs(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, JsonError> {
    let base = crate::urls::Site::of(&req).base_url;
    let paging = Paging::of(&req);
    let orgs = super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let doer = caller.require_doer()?;
            let orgs = state.db.orgs_of_user(doer.id)?;
            Ok(orgs
                .iter()
                .filter(|o| !caller.public_only() || o.visibility == Visibility::Public)
                .map(|o| caller.presenter.org(o))
                .collect::<Vec<_>>())
        },
    )
    .await?;
    Ok(paging::page_of(&req, &base, orgs, paging))
}

/// `GET /api/v1/users/{username}/orgs` → 200 with the user's organisations the caller may
/// see, paged; 404 for a user the caller may not see.
#[utoipa::path(
    get,
    path = "/api/v1/users/{username}/orgs",
    operation_id = "orgListUserOrgs",
    tag = "organization",
    summary = "The organisations of a user that the caller may see",
    params(
        ("username" = String, Path, description = "user name"),
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "the organisations", body = Vec<super::json::OrgJson>),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn user_orgs(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let facts = RequestFacts::of(&req)?;
    let base = facts.site.base_url.clone();
    let paging = Paging::of(&req);
    let name = path.into_inner();
    let state = state.into_inner();
    let orgs = blocking::run(move || {
        let caller = Caller::authenticate(&state, facts, ScopeCategory::Organization)?;
        let user = state
            .db
            .user_by_name(&name)?
            .filter(|u| u.kind == OwnerKind::User)
            .filter(|u| sees(&state, &caller, u).unwrap_or(false))
            .ok_or(ApiError::NotFound("user does not exist"))?;
        let mut shown = Vec::new();
        for org in state.db.orgs_of_user(user.id)? {
            if caller.public_only() && org.visibility != Visibility::Public {
                continue;
            }
            if sees(&state, &caller, &org)? {
                shown.push(caller.presenter.org(&org));
            }
        }
        Ok(shown)
    })
    .await?;
    Ok(paging::page_of(&req, &base, orgs, paging))
}

/// Lists organisations: `admin` for `/admin/orgs` (site admins, every organisation), else
/// `/orgs` (those the caller may see).
async fn list_orgs(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: bool,
) -> Result<HttpResponse, JsonError> {
    let facts = RequestFacts::of(&req)?;
    let base = facts.site.base_url.clone();
    let paging = Paging::of(&req);
    let state = state.into_inner();
    let (orgs, total) = blocking::run(move || {
        let caller = if admin {
            admin_caller(&state, facts)?
        } else {
            Caller::authenticate(&state, facts, ScopeCategory::Organization)?
        };
        let visibilities = if caller.public_only() {
            &[Visibility::Public][..]
        } else {
            listed_visibilities(&caller)
        };
        let query = OwnerQuery {
            kind: Some(OwnerKind::Organization),
            visibilities,
            ..OwnerQuery::default()
        };
        let (orgs, total) = state.db.search_owners(&query, paging.db_page())?;
        let json: Vec<_> = orgs.iter().map(|o| caller.presenter.org(o)).collect();
        Ok((json, total))
    })
    .await?;
    Ok(paging::page_response(&req, &base, &orgs, total, paging))
}

/// `GET /api/v1/orgs` → 200 with the organisations the caller may see, paged.
#[utoipa::path(
    get,
    path = "/api/v1/orgs",
    operation_id = "orgGetAll",
    tag = "organization",
    summary = "The organisations the caller may see",
    params(
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "the organisations", body = Vec<super::json::OrgJson>)
    )
)]
pub async fn orgs(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, JsonError> {
    list_orgs(req, state, false).await
}

/// `GET /api/v1/admin/orgs` → 200 with every organisation, for site admins.
#[utoipa::path(
    get,
    path = "/api/v1/admin/orgs",
    operation_id = "adminGetAllOrgs",
    tag = "admin",
    summary = "Every organisation (site admins)",
    params(
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "the organisations", body = Vec<super::json::OrgJson>),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody)
    )
)]
pub async fn admin_orgs(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, JsonError> {
    list_orgs(req, state, true).await
}

/// `GET /api/v1/admin/users` → 200 with every user, for site admins, paged.
#[utoipa::path(
    get,
    path = "/api/v1/admin/users",
    operation_id = "adminSearchUsers",
    tag = "admin",
    summary = "Every user (site admins)",
    params(
        ("login_name" = Option<String>, Query, description = "only the user with this sign-in name"),
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "the users", body = Vec<super::json::UserJson>),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody)
    )
)]
pub async fn admin_users(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, JsonError> {
    let base = crate::urls::Site::of(&req).base_url;
    let pairs = paging::parse_query(req.query_string());
    let paging = Paging::from_query(&pairs);
    let login = paging::query_value(&pairs, "login_name")
        .unwrap_or("")
        .to_owned();
    let (users, total) = super::gate::run(&req, state, move |state, facts| {
        let caller = admin_caller(state, facts)?;
        let query = OwnerQuery {
            kind: Some(OwnerKind::User),
            text: Some(&login),
            ..OwnerQuery::default()
        };
        let (users, total) = state.db.search_owners(&query, paging.db_page())?;
        let json: Vec<_> = users.iter().map(|u| caller.presenter.user(u)).collect();
        Ok((json, total))
    })
    .await?;
    Ok(paging::page_response(&req, &base, &users, total, paging))
}

/// `GET /api/v1/orgs/{org}/members` → 200 with the members, paged. Membership is private
/// here (there is no public membership), so only members and site admins see anyone.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/members",
    operation_id = "orgListMembers",
    tag = "organization",
    summary = "An organisation's members",
    params(
        ("org" = String, Path, description = "organisation name"),
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "the members", body = Vec<super::json::UserJson>),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn org_members(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let base = crate::urls::Site::of(&req).base_url;
    let paging = Paging::of(&req);
    let name = path.into_inner();
    let members = super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let org = visible_org(state, &caller, &name)?;
            if !org.membership.is_member && !caller.is_site_admin() {
                return Ok(Vec::new());
            }
            let members = state.db.org_members(org.org.id)?;
            Ok(members
                .iter()
                .map(|u| caller.presenter.user(u))
                .collect::<Vec<_>>())
        },
    )
    .await?;
    Ok(paging::page_of(&req, &base, members, paging))
}

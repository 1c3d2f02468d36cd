//! Teams of organisations: `/api/v1/orgs/{org}/teams` and `/api/v1/teams/{id}`.
//!
//! Who may do what follows Gitea: organisation members list teams; owners (and site admins)
//! create, edit and delete teams and change members; a team is shown to its members, the organisation's owners
//! and site admins, refused (403) to other members and hidden (404) from everyone else.
//! Removing the last owner of an organisation is refused with 422.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::ScopeCategory;
use packages_core::{lower, AccessMode, OwnerKind};
use packages_db::{DbError, NewTeam, Team, TeamMemberRemoval, User, PACKAGES_UNIT};
use serde::Deserialize;

use super::gate::Caller;
use super::orgs::{visible, visible_org, VisibleOrg};
use super::paging::{self, Paging};
use crate::error::{ApiError, ApiResult, JsonError};
use crate::state::AppState;
use packages_service::validate;

/// Every repository unit Gitea knows, in its order; admin teams get them all.
const REPO_UNITS: &[&str] = &[
    "repo.code",
    "repo.issues",
    "repo.pulls",
    "repo.releases",
    "repo.wiki",
    "repo.ext_wiki",
    "repo.ext_issues",
    "repo.projects",
    PACKAGES_UNIT,
    "repo.actions",
];

/// Units that only ever grant read (links to external trackers and wikis).
const READ_ONLY_UNITS: &[&str] = &["repo.ext_wiki", "repo.ext_issues"];

/// Body of `POST /api/v1/orgs/{org}/teams` (Gitea's `CreateTeamOption`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CreateTeamOption {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `read`, `write` or `admin`.
    #[serde(default)]
    pub permission: String,
    /// Units granted at `permission` (used when `units_map` is empty).
    #[serde(default)]
    pub units: Vec<String>,
    /// Unit → `none`, `read`, `write` or `admin`.
    #[serde(default)]
    pub units_map: BTreeMap<String, String>,
    #[serde(default)]
    pub includes_all_repositories: bool,
    #[serde(default)]
    pub can_create_org_repo: bool,
}

/// Reads an access mode name as Gitea's `ParseAccessMode` does: unknown names grant nothing.
fn parse_mode(name: &str) -> AccessMode {
    match name {
        "read" => AccessMode::Read,
        "write" => AccessMode::Write,
        "admin" => AccessMode::Admin,
        "owner" => AccessMode::Owner,
        _ => AccessMode::None,
    }
}

/// A `permission` field: empty means not given; otherwise read, write or admin (422 else).
fn requested_level(permission: &str) -> ApiResult<Option<AccessMode>> {
    match permission {
        "" => Ok(None),
        "read" | "write" | "admin" => Ok(Some(parse_mode(permission))),
        _ => Err(ApiError::Unprocessable(
            "permission must be read, write or admin".to_owned(),
        )),
    }
}

/// The known units of a `units_map`, each granting at most admin; unknown names are ignored.
fn mapped_units(map: &BTreeMap<String, String>) -> Vec<(String, AccessMode)> {
    map.iter()
        .filter(|(unit, _)| REPO_UNITS.contains(&unit.as_str()))
        .map(|(unit, mode)| (unit.clone(), parse_mode(mode).min(AccessMode::Admin)))
        .collect()
}

/// The level a `units_map` sets for a team below admin: the lowest level granted by a unit
/// that can grant more than read.
fn lowest_level(units: &[(String, AccessMode)]) -> AccessMode {
    units
        .iter()
        .filter(|(unit, _)| !READ_ONLY_UNITS.contains(&unit.as_str()))
        .map(|(_, mode)| *mode)
        .filter(|mode| *mode > AccessMode::None)
        .min()
        .unwrap_or(AccessMode::None)
}

/// Every unit at admin (read for the read-only ones): what an admin team holds.
fn admin_units() -> Vec<(String, AccessMode)> {
    REPO_UNITS
        .iter()
        .map(|unit| {
            let mode = if READ_ONLY_UNITS.contains(unit) {
                AccessMode::Read
            } else {
                AccessMode::Admin
            };
            ((*unit).to_owned(), mode)
        })
        .collect()
}

/// The units a request gives a team at `level` (below admin): the `units_map` if any, else
/// the `units` list at the team's level; None when it names neither.
fn requested_units(
    level: AccessMode,
    units: &[String],
    units_map: &BTreeMap<String, String>,
) -> Option<Vec<(String, AccessMode)>> {
    if !units_map.is_empty() {
        return Some(mapped_units(units_map));
    }
    if units.is_empty() {
        return None;
    }
    let mut listed: Vec<(String, AccessMode)> = Vec::new();
    for unit in units.iter().filter(|u| REPO_UNITS.contains(&u.as_str())) {
        if !listed.iter().any(|(u, _)| u == unit) {
            listed.push((unit.clone(), level));
        }
    }
    Some(listed)
}

/// The team level and units a creation request asks for, with Gitea's rules: a team below
/// admin takes its units from `units_map` (and then its level is the lowest granted unit
/// level) or else from `units` at the team level; an admin team gets every unit. Unknown
/// unit names are ignored.
pub fn team_grants(body: &CreateTeamOption) -> ApiResult<(AccessMode, Vec<(String, AccessMode)>)> {
    let mut level = requested_level(&body.permission)?.unwrap_or(AccessMode::None);
    if level < AccessMode::Admin && !body.units_map.is_empty() {
        level = lowest_level(&mapped_units(&body.units_map));
    }
    if level >= AccessMode::Admin {
        return Ok((level, admin_units()));
    }
    let units = requested_units(level, &body.units, &body.units_map).ok_or_else(|| {
        ApiError::Unprocessable("units permission should not be empty".to_owned())
    })?;
    Ok((level, units))
}

/// Body of `PATCH /api/v1/teams/{id}` (Gitea's `EditTeamOption`): what is absent (or an
/// empty name, permission or unit list) stays as it is.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct EditTeamOption {
    #[serde(default)]
    pub name: String,
    pub description: Option<String>,
    /// `read`, `write` or `admin`; ignored for the Owners team.
    #[serde(default)]
    pub permission: String,
    #[serde(default)]
    pub units: Vec<String>,
    #[serde(default)]
    pub units_map: BTreeMap<String, String>,
    /// Changed only together with `permission`, as in Gitea.
    pub includes_all_repositories: Option<bool>,
    pub can_create_org_repo: Option<bool>,
}

/// A team as an edit leaves it, with Gitea's rules: the Owners team keeps its name (422 when
/// asked to change it), its owner level, its units and may always create repositories; the
/// level changes only with `permission` (a `units_map` then sets it below admin, as on
/// creation); units change only when the request names some; an admin team holds every unit.
pub fn edited_team(
    team: &Team,
    units: &[(String, AccessMode)],
    body: &EditTeamOption,
) -> ApiResult<(NewTeam, bool)> {
    let is_owners = team.authorize == AccessMode::Owner;
    let mut name = team.name.clone();
    if !body.name.is_empty() {
        validate::team_name(&body.name)?;
        if is_owners && lower(&body.name) != team.lower_name {
            return Err(ApiError::Unprocessable(
                "the Owners team cannot be renamed".to_owned(),
            ));
        }
        name.clone_from(&body.name);
    }
    let description = match &body.description {
        Some(d) => {
            validate::max_chars("description", d, 255)?;
            d.clone()
        }
        None => team.description.clone(),
    };
    let requested = requested_level(&body.permission)?;
    let mut level = team.authorize;
    let mut includes_all_repositories = team.includes_all_repositories;
    if let (false, Some(mut wanted)) = (is_owners, requested) {
        if wanted < AccessMode::Admin && !body.units_map.is_empty() {
            wanted = lowest_level(&mapped_units(&body.units_map));
        }
        level = wanted;
        if let Some(all) = body.includes_all_repositories {
            includes_all_repositories = all;
        }
    }
    let units = if is_owners {
        units.to_vec()
    } else if level >= AccessMode::Admin {
        admin_units()
    } else {
        requested_units(level, &body.units, &body.units_map).unwrap_or_else(|| units.to_vec())
    };
    let can_create_org_repo = match body.can_create_org_repo {
        Some(v) => is_owners || v,
        None => team.can_create_org_repo,
    };
    let new = NewTeam {
        org_id: team.org_id,
        name,
        description,
        authorize: level,
        includes_all_repositories,
        units,
    };
    Ok((new, can_create_org_repo))
}

/// A failed team write as the API answers it: a taken name is 422 with Gitea's message.
fn team_write_error(e: DbError, org_id: i64, name: &str) -> ApiError {
    match e {
        DbError::Conflict(_) => ApiError::Unprocessable(format!(
            "team already exists [org_id: {org_id}, name: {name}]"
        )),
        DbError::NotFound => ApiError::NotFound("team does not exist"),
        other => other.into(),
    }
}

/// A team the caller may see, with its units and organisation.
struct VisibleTeam {
    team: Team,
    units: Vec<(String, AccessMode)>,
    org: VisibleOrg,
}

/// Finds a team and checks the caller may see it (Gitea's `reqTeamMembership`). Blocking.
fn visible_team(state: &AppState, caller: &Caller, id: &str) -> ApiResult<VisibleTeam> {
    let doer = caller.require_doer()?;
    let not_found = ApiError::NotFound("team does not exist");
    let Ok(id) = id.parse::<i64>() else {
        return Err(not_found);
    };
    let Some((team, units)) = state.db.team_by_id(id)? else {
        return Err(not_found);
    };
    let org = state
        .db
        .user_by_id(team.org_id)?
        .ok_or(ApiError::NotFound("team does not exist"))?;
    let org = visible(state, caller, org).map_err(|e| match e {
        ApiError::NotFound(_) => ApiError::NotFound("team does not exist"),
        other => other,
    })?;
    if !org.may_manage(caller) && !state.db.is_team_member(team.id, doer.id)? {
        return Err(if org.membership.is_member {
            ApiError::Forbidden("Must be a team member")
        } else {
            ApiError::NotFound("team does not exist")
        });
    }
    Ok(VisibleTeam { team, units, org })
}

/// The user named in a member URL; organisations are not users here.
fn member_user(state: &AppState, username: &str) -> ApiResult<User> {
    state
        .db
        .user_by_name(username)?
        .filter(|u| u.kind == OwnerKind::User)
        .ok_or(ApiError::NotFound("user does not exist"))
}

/// `GET /api/v1/orgs/{org}/teams` → 200 with the teams, oldest first, paged.
#[utoipa::path(
    get,
    path = "/api/v1/orgs/{org}/teams",
    operation_id = "orgListTeams",
    tag = "organization",
    summary = "An organisation's teams (members)",
    params(
        ("org" = String, Path, description = "organisation name"),
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "the teams", body = Vec<super::json::TeamJson>),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let base = crate::urls::Site::of(&req).base_url;
    let paging = Paging::of(&req);
    let name = path.into_inner();
    let teams = super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let org = visible_org(state, &caller, &name)?;
            caller.require_doer()?;
            if !org.membership.is_member && !caller.is_site_admin() {
                return Err(ApiError::Forbidden("Must be an organization member"));
            }
            let teams = state.db.teams_of_org(org.org.id)?;
            Ok(teams
                .iter()
                .map(|(team, units)| caller.presenter.team(team, units, &org.org))
                .collect::<Vec<_>>())
        },
    )
    .await?;
    Ok(paging::page_of(&req, &base, teams, paging))
}

/// `POST /api/v1/orgs/{org}/teams` → 201 with the team.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{org}/teams",
    operation_id = "orgCreateTeam",
    tag = "organization",
    summary = "Create a team (owners)",
    params(
        ("org" = String, Path, description = "organisation name")
    ),
    request_body = CreateTeamOption,
    responses(
        (status = 201, description = "the team", body = super::json::TeamJson),
        (status = 400, description = "a malformed body", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody),
        (status = 422, description = "an invalid or taken value", body = crate::error::ErrorBody)
    )
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CreateTeamOption>,
) -> Result<HttpResponse, JsonError> {
    let name = path.into_inner();
    let body = body.into_inner();
    let json = super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let org = visible_org(state, &caller, &name)?;
            caller.require_doer()?;
            if !org.membership.is_member && !caller.is_site_admin() {
                return Err(ApiError::Forbidden("Must be an organization member"));
            }
            if !org.may_manage(&caller) {
                return Err(ApiError::Forbidden("Must be an organization owner"));
            }
            validate::team_name(&body.name)?;
            validate::max_chars("description", &body.description, 255)?;
            let (authorize, units) = team_grants(&body)?;
            let new = NewTeam {
                org_id: org.org.id,
                name: body.name.clone(),
                description: body.description.clone(),
                authorize,
                includes_all_repositories: body.includes_all_repositories,
                units,
            };
            let team = state
                .db
                .create_team_with(&new, body.can_create_org_repo)
                .map_err(|e| team_write_error(e, org.org.id, &body.name))?;
            Ok(caller.presenter.team(&team, &new.units, &org.org))
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(json))
}

/// `GET /api/v1/teams/{id}` → 200 with the team.
#[utoipa::path(
    get,
    path = "/api/v1/teams/{id}",
    operation_id = "orgGetTeam",
    tag = "organization",
    summary = "A team (its members, the organisation's owners, site admins)",
    params(
        ("id" = i64, Path, description = "team id")
    ),
    responses(
        (status = 200, description = "the team", body = super::json::TeamJson),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let id = path.into_inner();
    let json = super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let team = visible_team(state, &caller, &id)?;
            Ok(caller
                .presenter
                .team(&team.team, &team.units, &team.org.org))
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `PATCH /api/v1/teams/{id}` → 200 with the changed team, for the organisation's owners
/// and site admins (403 for other members). Package access of its members follows at once:
/// the write drops the cached memberships.
#[utoipa::path(
    patch,
    path = "/api/v1/teams/{id}",
    operation_id = "orgEditTeam",
    tag = "organization",
    summary = "Edit a team (owners); what the body leaves out stays",
    params(
        ("id" = i64, Path, description = "team id")
    ),
    request_body = EditTeamOption,
    responses(
        (status = 200, description = "the team", body = super::json::TeamJson),
        (status = 400, description = "a malformed body", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody),
        (status = 422, description = "an invalid field, a taken name, or renaming the Owners team", body = crate::error::ErrorBody)
    )
)]
pub async fn edit(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<EditTeamOption>,
) -> Result<HttpResponse, JsonError> {
    let id = path.into_inner();
    let body = body.into_inner();
    let json = super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let team = visible_team(state, &caller, &id)?;
            if !team.org.may_manage(&caller) {
                return Err(ApiError::Forbidden("Must be an organization owner"));
            }
            let (new, can_create_org_repo) = edited_team(&team.team, &team.units, &body)?;
            let changed = state
                .db
                .update_team(team.team.id, &new, can_create_org_repo)
                .map_err(|e| team_write_error(e, team.org.org.id, &new.name))?;
            Ok(caller.presenter.team(&changed, &new.units, &team.org.org))
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `PUT /api/v1/teams/{id}/members/{username}` → 204; adding a member twice is fine.
#[utoipa::path(
    put,
    path = "/api/v1/teams/{id}/members/{username}",
    operation_id = "orgAddTeamMember",
    tag = "organization",
    summary = "Add a member (owners)",
    params(
        ("id" = i64, Path, description = "team id"),
        ("username" = String, Path, description = "user name")
    ),
    responses(
        (status = 204, description = "added (or already a member)"),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn add_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, JsonError> {
    change_member(req, state, path, true).await
}

/// `DELETE /api/v1/teams/{id}/members/{username}` → 204; removing a non-member is a no-op.
#[utoipa::path(
    delete,
    path = "/api/v1/teams/{id}/members/{username}",
    operation_id = "orgRemoveTeamMember",
    tag = "organization",
    summary = "Remove a member (owners)",
    params(
        ("id" = i64, Path, description = "team id"),
        ("username" = String, Path, description = "user name")
    ),
    responses(
        (status = 204, description = "removed (or not a member)"),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody),
        (status = 422, description = "the organisation's last owner", body = crate::error::ErrorBody)
    )
)]
pub async fn remove_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, JsonError> {
    change_member(req, state, path, false).await
}

async fn change_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    add: bool,
) -> Result<HttpResponse, JsonError> {
    let (id, username) = path.into_inner();
    super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let team = visible_team(state, &caller, &id)?;
            if !team.org.may_manage(&caller) {
                return Err(ApiError::Forbidden("Must be an organization owner"));
            }
            let user = member_user(state, &username)?;
            if add {
                return Ok(state.db.add_team_member(team.team.id, user.id)?);
            }
            match state
                .db
                .remove_team_member_keeping_owner(team.team.id, user.id)?
            {
                TeamMemberRemoval::Removed | TeamMemberRemoval::NotMember => Ok(()),
                TeamMemberRemoval::LastOwner => Err(ApiError::Unprocessable(
                    "cannot remove the last owner of the organization".to_owned(),
                )),
            }
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/teams/{id}/members` → 200 with the team's members, paged.
#[utoipa::path(
    get,
    path = "/api/v1/teams/{id}/members",
    operation_id = "orgListTeamMembers",
    tag = "organization",
    summary = "A team's members",
    params(
        ("id" = i64, Path, description = "team id"),
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "the members", body = Vec<super::json::UserJson>),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn members(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let base = crate::urls::Site::of(&req).base_url;
    let paging = Paging::of(&req);
    let id = path.into_inner();
    let members = super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let team = visible_team(state, &caller, &id)?;
            let members = state.db.team_members(team.team.id)?;
            Ok(members
                .iter()
                .map(|u| caller.presenter.user(u))
                .collect::<Vec<_>>())
        },
    )
    .await?;
    Ok(paging::page_of(&req, &base, members, paging))
}

/// `GET /api/v1/teams/{id}/members/{username}` → 200 with the user when a member, else 404.
#[utoipa::path(
    get,
    path = "/api/v1/teams/{id}/members/{username}",
    operation_id = "orgListTeamMember",
    tag = "organization",
    summary = "A member of a team",
    params(
        ("id" = i64, Path, description = "team id"),
        ("username" = String, Path, description = "user name")
    ),
    responses(
        (status = 200, description = "the user", body = super::json::UserJson),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, JsonError> {
    let (id, username) = path.into_inner();
    let json = super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let team = visible_team(state, &caller, &id)?;
            let user = member_user(state, &username)?;
            if !state.db.is_team_member(team.team.id, user.id)? {
                return Err(ApiError::NotFound("user is not a member of the team"));
            }
            Ok(caller.presenter.user(&user))
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `DELETE /api/v1/teams/{id}` → 204, for the organisation's owners and site admins; its
/// members leave the organisation unless another team holds them. The Owners team stays
/// (422): an organisation always keeps its owners.
#[utoipa::path(
    delete,
    path = "/api/v1/teams/{id}",
    operation_id = "orgDeleteTeam",
    tag = "organization",
    summary = "Delete a team (owners)",
    params(
        ("id" = i64, Path, description = "team id")
    ),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody),
        (status = 422, description = "the Owners team", body = crate::error::ErrorBody)
    )
)]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let id = path.into_inner();
    super::gate::as_caller(
        &req,
        state,
        ScopeCategory::Organization,
        move |state, caller| {
            let team = visible_team(state, &caller, &id)?;
            if !team.org.may_manage(&caller) {
                return Err(ApiError::Forbidden("Must be an organization owner"));
            }
            if team.team.authorize == AccessMode::Owner {
                return Err(ApiError::Unprocessable(
                    "the Owners team cannot be deleted".to_owned(),
                ));
            }
            if !state.db.delete_team(team.team.id)? {
                return Err(ApiError::NotFound("team does not exist"));
            }
            Ok(())
        },
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(permission: &str, units: &[&str], map: &[(&str, &str)]) -> CreateTeamOption {
        CreateTeamOption {
            name: "t".into(),
            permission: permission.into(),
            units: units.iter().map(|u| (*u).to_owned()).collect(),
            units_map: map
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..CreateTeamOption::default()
        }
    }

    #[test]
    fn units_list_takes_the_team_level() {
        let (level, units) = team_grants(&body(
            "write",
            &["repo.packages", "repo.nope", "repo.packages"],
            &[],
        ))
        .expect("valid");
        assert_eq!(level, AccessMode::Write);
        assert_eq!(units, vec![(PACKAGES_UNIT.to_owned(), AccessMode::Write)]);
    }

    #[test]
    fn units_map_sets_modes_and_the_lowest_level() {
        let (level, units) = team_grants(&body(
            "read",
            &["repo.code"],
            &[
                ("repo.packages", "write"),
                ("repo.code", "admin"),
                ("repo.ext_wiki", "read"),
            ],
        ))
        .expect("valid");
        assert_eq!(level, AccessMode::Write);
        assert_eq!(
            units,
            vec![
                ("repo.code".to_owned(), AccessMode::Admin),
                ("repo.ext_wiki".to_owned(), AccessMode::Read),
                (PACKAGES_UNIT.to_owned(), AccessMode::Write),
            ]
        );
        let (level, _) = team_grants(&body("", &[], &[("repo.packages", "read")])).expect("valid");
        assert_eq!(level, AccessMode::Read);
    }

    #[test]
    fn admin_teams_get_every_unit() {
        let (level, units) =
            team_grants(&body("admin", &[], &[("repo.packages", "read")])).expect("valid");
        assert_eq!(level, AccessMode::Admin);
        assert_eq!(units.len(), REPO_UNITS.len());
        assert!(units.contains(&(PACKAGES_UNIT.to_owned(), AccessMode::Admin)));
        assert!(units.contains(&("repo.ext_issues".to_owned(), AccessMode::Read)));
    }

    fn team(authorize: AccessMode) -> Team {
        Team {
            id: 7,
            org_id: 3,
            name: "devs".into(),
            lower_name: "devs".into(),
            description: "old".into(),
            authorize,
            includes_all_repositories: false,
            can_create_org_repo: false,
        }
    }

    #[test]
    fn an_edit_changes_only_what_it_names() {
        let units = vec![(PACKAGES_UNIT.to_owned(), AccessMode::Read)];
        let body = EditTeamOption {
            description: Some("new".into()),
            ..EditTeamOption::default()
        };
        let (new, can_create) = edited_team(&team(AccessMode::Read), &units, &body).expect("ok");
        assert_eq!(
            (new.name.as_str(), new.description.as_str(), new.authorize),
            ("devs", "new", AccessMode::Read)
        );
        assert_eq!(new.units, units);
        assert!(!can_create);
        // Without `permission`, `includes_all_repositories` stays.
        let body = EditTeamOption {
            includes_all_repositories: Some(true),
            units: vec!["repo.packages".into()],
            ..EditTeamOption::default()
        };
        let (new, _) = edited_team(&team(AccessMode::Write), &units, &body).expect("ok");
        assert!(!new.includes_all_repositories);
        assert_eq!(
            new.units,
            vec![(PACKAGES_UNIT.to_owned(), AccessMode::Write)]
        );
        let body = EditTeamOption {
            permission: "write".into(),
            includes_all_repositories: Some(true),
            units_map: [("repo.packages".to_owned(), "write".to_owned())].into(),
            ..EditTeamOption::default()
        };
        let (new, _) = edited_team(&team(AccessMode::Read), &units, &body).expect("ok");
        assert_eq!(new.authorize, AccessMode::Write);
        assert!(new.includes_all_repositories);
        assert_eq!(
            new.units,
            vec![(PACKAGES_UNIT.to_owned(), AccessMode::Write)]
        );
        let body = EditTeamOption {
            permission: "admin".into(),
            ..EditTeamOption::default()
        };
        let (new, _) = edited_team(&team(AccessMode::Read), &units, &body).expect("ok");
        assert_eq!(new.units.len(), REPO_UNITS.len());
    }

    #[test]
    fn the_owners_team_keeps_its_name_and_level() {
        let mut owners = team(AccessMode::Owner);
        owners.name = "Owners".into();
        owners.lower_name = "owners".into();
        let units = vec![(PACKAGES_UNIT.to_owned(), AccessMode::Admin)];
        let body = EditTeamOption {
            name: "bosses".into(),
            ..EditTeamOption::default()
        };
        assert!(matches!(
            edited_team(&owners, &units, &body),
            Err(ApiError::Unprocessable(_))
        ));
        let body = EditTeamOption {
            name: "OWNERS".into(),
            permission: "read".into(),
            units_map: [("repo.packages".to_owned(), "read".to_owned())].into(),
            can_create_org_repo: Some(false),
            ..EditTeamOption::default()
        };
        let (new, can_create) = edited_team(&owners, &units, &body).expect("ok");
        assert_eq!(new.authorize, AccessMode::Owner);
        assert_eq!(new.units, units);
        assert!(can_create);
    }

    #[test]
    fn bad_edits() {
        let t = team(AccessMode::Read);
        for body in [
            EditTeamOption {
                permission: "owner".into(),
                ..EditTeamOption::default()
            },
            EditTeamOption {
                name: "bad name!".into(),
                ..EditTeamOption::default()
            },
            EditTeamOption {
                description: Some("x".repeat(256)),
                ..EditTeamOption::default()
            },
        ] {
            assert!(edited_team(&t, &[], &body).is_err(), "{body:?}");
        }
    }

    #[test]
    fn bad_requests() {
        assert!(team_grants(&body("owner", &["repo.packages"], &[])).is_err());
        assert!(team_grants(&body("bogus", &["repo.packages"], &[])).is_err());
        assert!(team_grants(&body("write", &[], &[])).is_err());
    }
}

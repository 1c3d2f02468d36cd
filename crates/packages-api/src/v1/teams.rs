//! Teams of organisations: `/api/v1/orgs/{org}/teams` and `/api/v1/teams/{id}`.
//!
//! Who may do what follows Gitea: organisation members list teams; owners (and site admins)
//! create teams and change members; a team is shown to its members, the organisation's owners
//! and site admins, refused (403) to other members and hidden (404) from everyone else.
//! Removing the last owner of an organisation is refused with 422.

use std::collections::BTreeMap;

use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::ScopeCategory;
use packages_core::{AccessMode, OwnerKind};
use packages_db::{DbError, NewTeam, Team, TeamMemberRemoval, User, PACKAGES_UNIT};
use serde::Deserialize;

use super::gate::{Caller, RequestFacts};
use super::orgs::{visible, visible_org, VisibleOrg};
use super::paging::{self, Paging};
use super::validate;
use crate::blocking;
use crate::error::{ApiError, ApiResult, JsonError};
use crate::state::AppState;

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
#[derive(Debug, Default, Deserialize)]
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

/// The team level and units a creation request asks for, with Gitea's rules: a team below
/// admin takes its units from `units_map` (and then its level is the lowest granted unit
/// level) or else from `units` at the team level; an admin team gets every unit. Unknown
/// unit names are ignored.
pub fn team_grants(body: &CreateTeamOption) -> ApiResult<(AccessMode, Vec<(String, AccessMode)>)> {
    let mut level = match body.permission.as_str() {
        "" => AccessMode::None,
        "read" | "write" | "admin" => parse_mode(&body.permission),
        _ => {
            return Err(ApiError::Unprocessable(
                "permission must be read, write or admin".to_owned(),
            ))
        }
    };
    let known = |unit: &str| REPO_UNITS.contains(&unit);
    let map: Vec<(String, AccessMode)> = body
        .units_map
        .iter()
        .filter(|(unit, _)| known(unit))
        .map(|(unit, mode)| (unit.clone(), parse_mode(mode).min(AccessMode::Admin)))
        .collect();
    if level < AccessMode::Admin && !body.units_map.is_empty() {
        level = map
            .iter()
            .filter(|(unit, _)| !READ_ONLY_UNITS.contains(&unit.as_str()))
            .map(|(_, mode)| *mode)
            .filter(|mode| *mode > AccessMode::None)
            .min()
            .unwrap_or(AccessMode::None);
    }
    let units = if level >= AccessMode::Admin {
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
    } else if !body.units_map.is_empty() {
        map
    } else if !body.units.is_empty() {
        let mut units: Vec<(String, AccessMode)> = Vec::new();
        for unit in body.units.iter().filter(|u| known(u)) {
            if !units.iter().any(|(u, _)| u == unit) {
                units.push((unit.clone(), level));
            }
        }
        units
    } else {
        return Err(ApiError::Unprocessable(
            "units permission should not be empty".to_owned(),
        ));
    };
    Ok((level, units))
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
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let facts = RequestFacts::of(&req)?;
    let base = facts.site.base_url.clone();
    let paging = Paging::from_query(&paging::parse_query(req.query_string()));
    let name = path.into_inner();
    let state = state.into_inner();
    let teams = blocking::run(move || {
        let caller = Caller::authenticate(&state, facts, ScopeCategory::Organization)?;
        let org = visible_org(&state, &caller, &name)?;
        caller.require_doer()?;
        if !org.membership.is_member && !caller.is_site_admin() {
            return Err(ApiError::Forbidden("Must be an organization member"));
        }
        let teams = state.db.teams_of_org(org.org.id)?;
        Ok(teams
            .iter()
            .map(|(team, units)| caller.presenter.team(team, units, &org.org))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(paging::page_of(&req, &base, teams, paging))
}

/// `POST /api/v1/orgs/{org}/teams` → 201 with the team.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CreateTeamOption>,
) -> Result<HttpResponse, JsonError> {
    let facts = RequestFacts::of(&req)?;
    let name = path.into_inner();
    let body = body.into_inner();
    let state = state.into_inner();
    let json = blocking::run(move || {
        let caller = Caller::authenticate(&state, facts, ScopeCategory::Organization)?;
        let org = visible_org(&state, &caller, &name)?;
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
            .map_err(|e| match e {
                DbError::Conflict(_) => ApiError::Unprocessable(format!(
                    "team already exists [org_id: {}, name: {}]",
                    org.org.id, body.name
                )),
                other => other.into(),
            })?;
        Ok(caller.presenter.team(&team, &new.units, &org.org))
    })
    .await?;
    Ok(HttpResponse::Created().json(json))
}

/// `GET /api/v1/teams/{id}` → 200 with the team.
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let facts = RequestFacts::of(&req)?;
    let id = path.into_inner();
    let state = state.into_inner();
    let json = blocking::run(move || {
        let caller = Caller::authenticate(&state, facts, ScopeCategory::Organization)?;
        let team = visible_team(&state, &caller, &id)?;
        Ok(caller
            .presenter
            .team(&team.team, &team.units, &team.org.org))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `PUT /api/v1/teams/{id}/members/{username}` → 204; adding a member twice is fine.
pub async fn add_member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, JsonError> {
    change_member(req, state, path, true).await
}

/// `DELETE /api/v1/teams/{id}/members/{username}` → 204; removing a non-member is a no-op.
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
    let facts = RequestFacts::of(&req)?;
    let (id, username) = path.into_inner();
    let state = state.into_inner();
    blocking::run(move || {
        let caller = Caller::authenticate(&state, facts, ScopeCategory::Organization)?;
        let team = visible_team(&state, &caller, &id)?;
        if !team.org.may_manage(&caller) {
            return Err(ApiError::Forbidden("Must be an organization owner"));
        }
        let user = member_user(&state, &username)?;
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
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/teams/{id}/members` → 200 with the team's members, paged.
pub async fn members(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let facts = RequestFacts::of(&req)?;
    let base = facts.site.base_url.clone();
    let paging = Paging::from_query(&paging::parse_query(req.query_string()));
    let id = path.into_inner();
    let state = state.into_inner();
    let members = blocking::run(move || {
        let caller = Caller::authenticate(&state, facts, ScopeCategory::Organization)?;
        let team = visible_team(&state, &caller, &id)?;
        let members = state.db.team_members(team.team.id)?;
        Ok(members
            .iter()
            .map(|u| caller.presenter.user(u))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(paging::page_of(&req, &base, members, paging))
}

/// `GET /api/v1/teams/{id}/members/{username}` → 200 with the user when a member, else 404.
pub async fn member(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, JsonError> {
    let facts = RequestFacts::of(&req)?;
    let (id, username) = path.into_inner();
    let state = state.into_inner();
    let json = blocking::run(move || {
        let caller = Caller::authenticate(&state, facts, ScopeCategory::Organization)?;
        let team = visible_team(&state, &caller, &id)?;
        let user = member_user(&state, &username)?;
        if !state.db.is_team_member(team.team.id, user.id)? {
            return Err(ApiError::NotFound("user is not a member of the team"));
        }
        Ok(caller.presenter.user(&user))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `DELETE /api/v1/teams/{id}` → 204, for the organisation's owners and site admins; its
/// members leave the organisation unless another team holds them. The Owners team stays
/// (422): an organisation always keeps its owners.
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let facts = RequestFacts::of(&req)?;
    let id = path.into_inner();
    let state = state.into_inner();
    blocking::run(move || {
        let caller = Caller::authenticate(&state, facts, ScopeCategory::Organization)?;
        let team = visible_team(&state, &caller, &id)?;
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
    })
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

    #[test]
    fn bad_requests() {
        assert!(team_grants(&body("owner", &["repo.packages"], &[])).is_err());
        assert!(team_grants(&body("bogus", &["repo.packages"], &[])).is_err());
        assert!(team_grants(&body("write", &[], &[])).is_err());
    }
}

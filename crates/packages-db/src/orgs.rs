//! Organisations, their teams and team membership.

use std::collections::HashMap;

use diesel::prelude::*;
use packages_core::{lower, AccessMode, OwnerKind};

use crate::changes::Change;
use crate::error::{DbError, TxError, TxResult};
use crate::models::{
    access_mode_from_i16, access_mode_to_i16, MembershipRow, NewTeam, NewUser, Team,
    TeamMemberRemoval, TeamRow, User, PACKAGES_UNIT,
};
use crate::pool::{Conn, Database};
use crate::schema::{org_user, team, team_unit, team_user, users};
use crate::users::insert_user;

/// Name of the team every organisation starts with; its members own the organisation.
pub const OWNERS_TEAM: &str = "Owners";

/// A team with its unit access modes.
pub type TeamWithUnits = (Team, Vec<(String, AccessMode)>);

/// A team write that broke the unique name of the organisation's teams is a conflict.
fn name_taken(e: diesel::result::Error, name: &str) -> TxError {
    let e = TxError::from(e);
    if e.is_unique_violation() {
        DbError::Conflict(format!("team {name:?} already exists")).into()
    } else {
        e
    }
}

/// Inserts a team and its units; a name the organisation already uses is a conflict.
fn insert_team(c: &mut Conn<'_>, new: &NewTeam, can_create_org_repo: bool) -> TxResult<Team> {
    let lower_name = lower(&new.name);
    let inserted = run!(c, |c| diesel::insert_into(team::table)
        .values((
            team::org_id.eq(new.org_id),
            team::name.eq(&new.name),
            team::lower_name.eq(&lower_name),
            team::description.eq(&new.description),
            team::authorize.eq(access_mode_to_i16(new.authorize)),
            team::includes_all_repositories.eq(new.includes_all_repositories),
            team::can_create_org_repo.eq(can_create_org_repo),
        ))
        .returning(TeamRow::as_returning())
        .get_result(c));
    let row = inserted.map_err(|e| name_taken(e, &new.name))?;
    let team = Team::from(row);
    insert_units(c, &team, &new.units)?;
    Ok(team)
}

/// Gives a team these units (a unit named twice takes the last mode).
fn insert_units(c: &mut Conn<'_>, team: &Team, units: &[(String, AccessMode)]) -> TxResult<()> {
    for (unit, mode) in units {
        run!(c, |c| diesel::insert_into(team_unit::table)
            .values((
                team_unit::org_id.eq(team.org_id),
                team_unit::team_id.eq(team.id),
                team_unit::unit_type.eq(unit),
                team_unit::access_mode.eq(access_mode_to_i16(*mode)),
            ))
            .on_conflict((team_unit::team_id, team_unit::unit_type))
            .do_update()
            .set(team_unit::access_mode.eq(access_mode_to_i16(*mode)))
            .execute(c))?;
    }
    Ok(())
}

/// Adds the user to the team and to the team's organisation; already being there is fine.
fn insert_member(c: &mut Conn<'_>, org_id: i64, team_id: i64, user_id: i64) -> TxResult<()> {
    run!(c, |c| diesel::insert_into(team_user::table)
        .values((
            team_user::org_id.eq(org_id),
            team_user::team_id.eq(team_id),
            team_user::user_id.eq(user_id),
        ))
        .on_conflict((team_user::team_id, team_user::user_id))
        .do_nothing()
        .execute(c))?;
    run!(c, |c| diesel::insert_into(org_user::table)
        .values((org_user::org_id.eq(org_id), org_user::user_id.eq(user_id)))
        .on_conflict((org_user::org_id, org_user::user_id))
        .do_nothing()
        .execute(c))?;
    Ok(())
}

/// The units of the given teams, by team id.
fn units_of(
    c: &mut Conn<'_>,
    team_ids: &[i64],
) -> TxResult<HashMap<i64, Vec<(String, AccessMode)>>> {
    let rows: Vec<(i64, String, i16)> = run!(c, |c| team_unit::table
        .filter(team_unit::team_id.eq_any(team_ids))
        .select((
            team_unit::team_id,
            team_unit::unit_type,
            team_unit::access_mode
        ))
        .order(team_unit::id.asc())
        .load(c))?;
    let mut units: HashMap<i64, Vec<(String, AccessMode)>> = HashMap::new();
    for (team_id, unit, mode) in rows {
        units
            .entry(team_id)
            .or_default()
            .push((unit, access_mode_from_i16(mode)));
    }
    Ok(units)
}

/// The id of the team's organisation, if the team exists.
fn org_of_team(c: &mut Conn<'_>, team_id: i64) -> TxResult<Option<i64>> {
    Ok(run!(c, |c| team::table
        .find(team_id)
        .select(team::org_id)
        .first::<i64>(c)
        .optional())?)
}

/// Removes a user from a team, and from the organisation when no other team of it holds
/// the user. False when the user was not in the team.
fn remove_member(c: &mut Conn<'_>, team_id: i64, user_id: i64) -> TxResult<bool> {
    let Some(org_id) = org_of_team(c, team_id)? else {
        return Ok(false);
    };
    let removed = run!(c, |c| diesel::delete(
        team_user::table
            .filter(team_user::team_id.eq(team_id))
            .filter(team_user::user_id.eq(user_id))
    )
    .execute(c))?;
    if removed == 0 {
        return Ok(false);
    }
    let other_teams: i64 = run!(c, |c| team_user::table
        .filter(team_user::org_id.eq(org_id))
        .filter(team_user::user_id.eq(user_id))
        .count()
        .get_result(c))?;
    if other_teams == 0 {
        run!(c, |c| diesel::delete(
            org_user::table
                .filter(org_user::org_id.eq(org_id))
                .filter(org_user::user_id.eq(user_id))
        )
        .execute(c))?;
    }
    Ok(true)
}

/// Whether the user is in the team.
fn is_member_of_team(c: &mut Conn<'_>, team_id: i64, user_id: i64) -> TxResult<bool> {
    Ok(run!(c, |c| diesel::select(diesel::dsl::exists(
        team_user::table
            .filter(team_user::team_id.eq(team_id))
            .filter(team_user::user_id.eq(user_id))
    ))
    .get_result(c))?)
}

impl Database {
    /// Creates an organisation (whatever `new.kind` says) with its owners team, which holds
    /// the creator and grants admin on packages. A taken name is [`DbError::Conflict`]; an
    /// unknown creator is [`DbError::NotFound`].
    pub fn create_org(&self, new: &NewUser, creator_id: i64) -> Result<(User, Team), DbError> {
        // Memberships are cached as negative answers too.
        self.write(&[Change::Teams(0)], |c| {
            let org = insert_user(c, new, OwnerKind::Organization)?;
            let owners = NewTeam {
                org_id: org.id,
                name: OWNERS_TEAM.to_owned(),
                description: String::new(),
                authorize: AccessMode::Owner,
                includes_all_repositories: true,
                units: vec![(PACKAGES_UNIT.to_owned(), AccessMode::Admin)],
            };
            let team = insert_team(c, &owners, true)?;
            insert_member(c, org.id, team.id, creator_id).map_err(|e| {
                if e.is_foreign_key_violation() {
                    DbError::NotFound.into()
                } else {
                    e
                }
            })?;
            Ok((org, team))
        })
    }

    /// Creates a team in an organisation. An unknown organisation (or a user that is no
    /// organisation) is [`DbError::NotFound`]; a taken team name is [`DbError::Conflict`].
    pub fn create_team(&self, new: &NewTeam) -> Result<Team, DbError> {
        self.create_team_with(new, false)
    }

    /// Like [`Database::create_team`], also recording whether the team's members may create
    /// repositories in the organisation (kept for API clients; nothing here uses it).
    pub fn create_team_with(
        &self,
        new: &NewTeam,
        can_create_org_repo: bool,
    ) -> Result<Team, DbError> {
        // A team without members changes no membership.
        self.write_additive(|c| {
            let kind: Option<i16> = run!(c, |c| users::table
                .find(new.org_id)
                .select(users::kind)
                .first(c)
                .optional())?;
            if kind != Some(OwnerKind::Organization.as_i16()) {
                return Err(DbError::NotFound.into());
            }
            insert_team(c, new, can_create_org_repo)
        })
    }

    /// The organisation's teams, oldest first, each with its units.
    pub fn teams_of_org(&self, org_id: i64) -> Result<Vec<TeamWithUnits>, DbError> {
        self.read(|c| {
            let rows: Vec<TeamRow> = run!(c, |c| team::table
                .filter(team::org_id.eq(org_id))
                .select(TeamRow::as_select())
                .order(team::id.asc())
                .load(c))?;
            let teams: Vec<Team> = rows.into_iter().map(Team::from).collect();
            let ids: Vec<i64> = teams.iter().map(|t| t.id).collect();
            let mut units = units_of(c, &ids)?;
            Ok(teams
                .into_iter()
                .map(|team| {
                    let u = units.remove(&team.id).unwrap_or_default();
                    (team, u)
                })
                .collect())
        })
    }

    /// One team with its units.
    pub fn team_by_id(&self, id: i64) -> Result<Option<TeamWithUnits>, DbError> {
        self.read(|c| {
            let row: Option<TeamRow> = run!(c, |c| team::table
                .find(id)
                .select(TeamRow::as_select())
                .first(c)
                .optional())?;
            let Some(row) = row else {
                return Ok(None);
            };
            let mut units = units_of(c, &[id])?;
            Ok(Some((
                Team::from(row),
                units.remove(&id).unwrap_or_default(),
            )))
        })
    }

    /// Adds a user to a team and so to its organisation; adding twice is no error. An unknown
    /// team or user is [`DbError::NotFound`].
    pub fn add_team_member(&self, team_id: i64, user_id: i64) -> Result<(), DbError> {
        self.write(&[Change::Teams(0)], |c| {
            let org_id = org_of_team(c, team_id)?.ok_or(DbError::NotFound)?;
            insert_member(c, org_id, team_id, user_id).map_err(|e| {
                if e.is_foreign_key_violation() {
                    DbError::NotFound.into()
                } else {
                    e
                }
            })
        })
    }

    /// Removes a user from a team, and from the organisation when no other team of it holds
    /// the user. False when the user was not in the team. Keeping an owner is the caller's
    /// policy.
    pub fn remove_team_member(&self, team_id: i64, user_id: i64) -> Result<bool, DbError> {
        self.write(&[Change::Teams(0)], |c| remove_member(c, team_id, user_id))
    }

    /// Removes a user from a team unless that would leave the team's organisation without
    /// an owner (a member of a team whose level is owner). Check and removal run in one
    /// transaction.
    pub fn remove_team_member_keeping_owner(
        &self,
        team_id: i64,
        user_id: i64,
    ) -> Result<TeamMemberRemoval, DbError> {
        self.write(&[Change::Teams(0)], |c| {
            let team: Option<(i64, i16)> = run!(c, |c| team::table
                .find(team_id)
                .select((team::org_id, team::authorize))
                .first(c)
                .optional())?;
            let Some((org_id, authorize)) = team else {
                return Ok(TeamMemberRemoval::NotMember);
            };
            if !is_member_of_team(c, team_id, user_id)? {
                return Ok(TeamMemberRemoval::NotMember);
            }
            if access_mode_from_i16(authorize) == AccessMode::Owner {
                let owner_level = access_mode_to_i16(AccessMode::Owner);
                let other_owners: i64 = run!(c, |c| team_user::table
                    .inner_join(team::table)
                    .filter(team_user::org_id.eq(org_id))
                    .filter(team::authorize.eq(owner_level))
                    .filter(team_user::user_id.ne(user_id))
                    .count()
                    .get_result(c))?;
                if other_owners == 0 {
                    return Ok(TeamMemberRemoval::LastOwner);
                }
            }
            remove_member(c, team_id, user_id)?;
            Ok(TeamMemberRemoval::Removed)
        })
    }

    /// Rewrites a team: its name, description, level, flags and (all of) its units, from
    /// `new` (whose `org_id` is ignored). A name another team of the organisation has is
    /// [`DbError::Conflict`]; an unknown team is [`DbError::NotFound`]. Levels and units
    /// decide package access, so memberships' cached reads are dropped.
    pub fn update_team(
        &self,
        team_id: i64,
        new: &NewTeam,
        can_create_org_repo: bool,
    ) -> Result<Team, DbError> {
        self.write(&[Change::Teams(0)], |c| {
            let updated = run!(c, |c| diesel::update(team::table.find(team_id))
                .set((
                    team::name.eq(&new.name),
                    team::lower_name.eq(lower(&new.name)),
                    team::description.eq(&new.description),
                    team::authorize.eq(access_mode_to_i16(new.authorize)),
                    team::includes_all_repositories.eq(new.includes_all_repositories),
                    team::can_create_org_repo.eq(can_create_org_repo),
                ))
                .returning(TeamRow::as_returning())
                .get_result(c)
                .optional());
            let row = updated.map_err(|e| name_taken(e, &new.name))?;
            let team = Team::from(row.ok_or(DbError::NotFound)?);
            run!(c, |c| diesel::delete(
                team_unit::table.filter(team_unit::team_id.eq(team_id))
            )
            .execute(c))?;
            insert_units(c, &team, &new.units)?;
            Ok(team)
        })
    }

    /// Deletes a team with its units; its members leave the organisation unless another of
    /// its teams holds them. False when there is no such team.
    pub fn delete_team(&self, team_id: i64) -> Result<bool, DbError> {
        self.write(&[Change::Teams(0)], |c| {
            let members: Vec<i64> = run!(c, |c| team_user::table
                .filter(team_user::team_id.eq(team_id))
                .select(team_user::user_id)
                .load(c))?;
            for user_id in members {
                remove_member(c, team_id, user_id)?;
            }
            run!(c, |c| diesel::delete(
                team_unit::table.filter(team_unit::team_id.eq(team_id))
            )
            .execute(c))?;
            let deleted = run!(c, |c| diesel::delete(team::table.find(team_id)).execute(c))?;
            Ok(deleted > 0)
        })
    }

    /// Whether the user is in the team.
    pub fn is_team_member(&self, team_id: i64, user_id: i64) -> Result<bool, DbError> {
        self.read(|c| is_member_of_team(c, team_id, user_id))
    }

    /// What the user is in the organisation: member, owner, and the highest team and
    /// packages-unit access modes.
    pub fn membership(&self, org_id: i64, user_id: i64) -> Result<MembershipRow, DbError> {
        self.read(|c| {
            let is_member: bool = run!(c, |c| diesel::select(diesel::dsl::exists(
                org_user::table
                    .filter(org_user::org_id.eq(org_id))
                    .filter(org_user::user_id.eq(user_id))
            ))
            .get_result(c))?;
            let authorizes: Vec<i16> = run!(c, |c| team_user::table
                .inner_join(team::table)
                .filter(team_user::org_id.eq(org_id))
                .filter(team_user::user_id.eq(user_id))
                .select(team::authorize)
                .load(c))?;
            let unit_modes: Vec<i16> = run!(c, |c| team_unit::table
                .filter(team_unit::unit_type.eq(PACKAGES_UNIT))
                .filter(
                    team_unit::team_id.eq_any(
                        team_user::table
                            .filter(team_user::org_id.eq(org_id))
                            .filter(team_user::user_id.eq(user_id))
                            .select(team_user::team_id)
                    )
                )
                .select(team_unit::access_mode)
                .load(c))?;
            let max_of = |modes: &[i16]| {
                modes
                    .iter()
                    .map(|m| access_mode_from_i16(*m))
                    .max()
                    .unwrap_or(AccessMode::None)
            };
            let max_team_authorize = max_of(&authorizes);
            Ok(MembershipRow {
                is_member,
                is_owner: max_team_authorize == AccessMode::Owner,
                max_team_authorize,
                max_packages_unit: max_of(&unit_modes),
            })
        })
    }
}

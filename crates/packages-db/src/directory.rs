//! Listings of users and organisations for the API: search, organisations of a user, members
//! of an organisation or a team.

use diesel::prelude::*;
use packages_core::{lower, OwnerKind, Visibility};

use crate::error::DbError;
use crate::models::{Page, User, UserRow};
use crate::pool::Database;
use crate::schema::{org_user, team_user, users};

/// Which owners a listing shows.
#[derive(Debug, Clone, Default)]
pub struct OwnerQuery<'a> {
    /// Users or organisations.
    pub kind: Option<OwnerKind>,
    /// Shown when their visibility is one of these; empty means any visibility.
    pub visibilities: &'a [Visibility],
    /// Shown whatever its visibility (the caller itself).
    pub also_id: Option<i64>,
    /// Only this id.
    pub id: Option<i64>,
    /// Case-insensitive part of the name, or part of the full name.
    pub text: Option<&'a str>,
}

/// `%` and `_` match themselves in a LIKE pattern built from user input.
fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

macro_rules! owner_filter {
    ($query:expr) => {{
        let q: &OwnerQuery<'_> = $query;
        let mut b = users::table.into_boxed();
        if let Some(kind) = q.kind {
            b = b.filter(users::kind.eq(kind.as_i16()));
        }
        if let Some(id) = q.id {
            b = b.filter(users::id.eq(id));
        }
        if let Some(text) = q.text.filter(|t| !t.is_empty()) {
            let lower_pattern = like_pattern(&lower(text));
            let pattern = like_pattern(text);
            b = b.filter(
                users::lower_name
                    .like(lower_pattern)
                    .escape('\\')
                    .or(users::full_name.like(pattern).escape('\\')),
            );
        }
        if !q.visibilities.is_empty() {
            let shown: Vec<i16> = q.visibilities.iter().map(|v| v.as_i16()).collect();
            b = b.filter(
                users::visibility
                    .eq_any(shown)
                    .or(users::id.eq(q.also_id.unwrap_or(-1))),
            );
        }
        b
    }};
}

impl Database {
    /// One page of the owners `query` selects, by name, and how many it selects in all.
    pub fn search_owners(
        &self,
        query: &OwnerQuery<'_>,
        page: Page,
    ) -> Result<(Vec<User>, u64), DbError> {
        let limit = i64::try_from(page.limit.max(1)).unwrap_or(i64::MAX);
        let offset = i64::try_from(page.page.max(1) - 1)
            .unwrap_or(i64::MAX)
            .saturating_mul(limit);
        self.read(|c| {
            let total: i64 = run!(c, |c| owner_filter!(query).count().get_result(c))?;
            let rows: Vec<UserRow> = run!(c, |c| owner_filter!(query)
                .select(UserRow::as_select())
                .order(users::lower_name.asc())
                .limit(limit)
                .offset(offset)
                .load(c))?;
            Ok((
                rows.into_iter().map(User::from).collect(),
                u64::try_from(total).unwrap_or(0),
            ))
        })
    }

    /// The organisations `user_id` belongs to, by name.
    pub fn orgs_of_user(&self, user_id: i64) -> Result<Vec<User>, DbError> {
        self.read(|c| {
            let rows: Vec<UserRow> = run!(c, |c| users::table
                .inner_join(org_user::table.on(org_user::org_id.eq(users::id)))
                .filter(org_user::user_id.eq(user_id))
                .select(UserRow::as_select())
                .order(users::lower_name.asc())
                .load(c))?;
            Ok(rows.into_iter().map(User::from).collect())
        })
    }

    /// The members of organisation `org_id`, by name.
    pub fn org_members(&self, org_id: i64) -> Result<Vec<User>, DbError> {
        self.read(|c| {
            let rows: Vec<UserRow> = run!(c, |c| users::table
                .inner_join(org_user::table.on(org_user::user_id.eq(users::id)))
                .filter(org_user::org_id.eq(org_id))
                .select(UserRow::as_select())
                .order(users::lower_name.asc())
                .load(c))?;
            Ok(rows.into_iter().map(User::from).collect())
        })
    }

    /// The members of team `team_id`, by name.
    pub fn team_members(&self, team_id: i64) -> Result<Vec<User>, DbError> {
        self.read(|c| {
            let rows: Vec<UserRow> = run!(c, |c| users::table
                .inner_join(team_user::table.on(team_user::user_id.eq(users::id)))
                .filter(team_user::team_id.eq(team_id))
                .select(UserRow::as_select())
                .order(users::lower_name.asc())
                .load(c))?;
            Ok(rows.into_iter().map(User::from).collect())
        })
    }
}

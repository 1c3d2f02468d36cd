//! Package cleanup rules (one per owner and package type) and the version removals they
//! make. Which versions a rule removes is decided by the caller; this module reads the
//! candidates and deletes the chosen ones in one transaction.

use diesel::prelude::*;
use packages_core::retention::RuleSettings;

use crate::changes::Change;
use crate::deletes::delete_version_rows;
use crate::error::{DbError, TxError, TxResult};
use crate::pool::{now_unix, Conn, Database};
use crate::schema::{package, package_cleanup_rule, package_version};

/// A stored cleanup rule.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = package_cleanup_rule)]
pub struct CleanupRule {
    pub id: i64,
    pub enabled: bool,
    pub owner_id: i64,
    pub package_type: String,
    pub keep_count: i32,
    pub keep_pattern: String,
    pub remove_days: i32,
    pub remove_pattern: String,
    pub match_full_name: bool,
    pub created_unix: i64,
    pub updated_unix: i64,
}

impl CleanupRule {
    /// What the rule keeps and removes.
    pub fn settings(&self) -> RuleSettings {
        RuleSettings {
            keep_count: self.keep_count,
            keep_pattern: self.keep_pattern.clone(),
            remove_days: self.remove_days,
            remove_pattern: self.remove_pattern.clone(),
            match_full_name: self.match_full_name,
        }
    }
}

/// The fields of a rule to store, checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFields {
    pub enabled: bool,
    pub package_type: String,
    pub settings: RuleSettings,
}

/// The columns a rule's fields fill, written on create and on edit alike.
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = package_cleanup_rule)]
struct RuleRow<'a> {
    enabled: bool,
    package_type: &'a str,
    keep_count: i32,
    keep_pattern: &'a str,
    remove_days: i32,
    remove_pattern: &'a str,
    match_full_name: bool,
}

impl<'a> RuleRow<'a> {
    fn of(f: &'a RuleFields) -> Self {
        RuleRow {
            enabled: f.enabled,
            package_type: &f.package_type,
            keep_count: f.settings.keep_count,
            keep_pattern: &f.settings.keep_pattern,
            remove_days: f.settings.remove_days,
            remove_pattern: &f.settings.remove_pattern,
            match_full_name: f.settings.match_full_name,
        }
    }
}

/// A package a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct PackageName {
    pub id: i64,
    pub name: String,
    pub lower_name: String,
}

/// A version as a rule sees it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct AgedVersion {
    pub id: i64,
    pub version: String,
    pub lower_version: String,
    pub created_unix: i64,
}

/// Maps the unique (owner, type) index to [`DbError::Conflict`] and an unknown owner to
/// [`DbError::NotFound`].
fn rule_write_error(e: diesel::result::Error, ptype: &str) -> TxError {
    let e = TxError::from(e);
    if e.is_unique_violation() {
        DbError::Conflict(format!(
            "a cleanup rule for {ptype} packages exists already"
        ))
        .into()
    } else if e.is_foreign_key_violation() {
        DbError::NotFound.into()
    } else {
        e
    }
}

/// The package's non-internal versions, newest first (by creation, then id).
fn versions_newest_first(c: &mut Conn<'_>, package_id: i64) -> TxResult<Vec<AgedVersion>> {
    Ok(run!(c, |c| package_version::table
        .filter(package_version::package_id.eq(package_id))
        .filter(package_version::is_internal.eq(false))
        .order((
            package_version::created_unix.desc(),
            package_version::id.desc()
        ))
        .select((
            package_version::id,
            package_version::version,
            package_version::lower_version,
            package_version::created_unix,
        ))
        .load(c))?)
}

impl Database {
    /// Stores a new rule for `owner_id`. A second rule for the same type is
    /// [`DbError::Conflict`].
    pub fn create_cleanup_rule(
        &self,
        owner_id: i64,
        fields: &RuleFields,
    ) -> Result<CleanupRule, DbError> {
        let now = now_unix();
        let row = RuleRow::of(fields);
        self.write_additive(|c| {
            run!(c, |c| diesel::insert_into(package_cleanup_rule::table)
                .values((
                    &row,
                    package_cleanup_rule::owner_id.eq(owner_id),
                    package_cleanup_rule::created_unix.eq(now),
                    package_cleanup_rule::updated_unix.eq(now),
                ))
                .returning(CleanupRule::as_returning())
                .get_result(c))
            .map_err(|e| rule_write_error(e, &fields.package_type))
        })
    }

    /// Replaces a rule's fields; `None` when there is no such rule.
    pub fn update_cleanup_rule(
        &self,
        id: i64,
        fields: &RuleFields,
    ) -> Result<Option<CleanupRule>, DbError> {
        let now = now_unix();
        let row = RuleRow::of(fields);
        self.write_additive(|c| {
            run!(c, |c| diesel::update(package_cleanup_rule::table.find(id))
                .set((&row, package_cleanup_rule::updated_unix.eq(now)))
                .returning(CleanupRule::as_returning())
                .get_result(c)
                .optional())
            .map_err(|e| rule_write_error(e, &fields.package_type))
        })
    }

    /// Deletes a rule; false when there was none.
    pub fn delete_cleanup_rule(&self, id: i64) -> Result<bool, DbError> {
        self.write_additive(|c| {
            let n = run!(c, |c| diesel::delete(package_cleanup_rule::table.find(id))
                .execute(c))?;
            Ok(n > 0)
        })
    }

    /// The rule with this id.
    pub fn cleanup_rule(&self, id: i64) -> Result<Option<CleanupRule>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package_cleanup_rule::table
                .find(id)
                .select(CleanupRule::as_select())
                .first(c)
                .optional())?)
        })
    }

    /// The owner's rules, by type.
    pub fn cleanup_rules_of(&self, owner_id: i64) -> Result<Vec<CleanupRule>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package_cleanup_rule::table
                .filter(package_cleanup_rule::owner_id.eq(owner_id))
                .order(package_cleanup_rule::package_type.asc())
                .select(CleanupRule::as_select())
                .load(c))?)
        })
    }

    /// Every enabled rule, by id.
    pub fn enabled_cleanup_rules(&self) -> Result<Vec<CleanupRule>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package_cleanup_rule::table
                .filter(package_cleanup_rule::enabled.eq(true))
                .order(package_cleanup_rule::id.asc())
                .select(CleanupRule::as_select())
                .load(c))?)
        })
    }

    /// The owner's non-internal packages of a type, by name.
    pub fn packages_of_type(
        &self,
        owner_id: i64,
        package_type: &str,
    ) -> Result<Vec<PackageName>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package::table
                .filter(package::owner_id.eq(owner_id))
                .filter(package::package_type.eq(package_type))
                .filter(package::is_internal.eq(false))
                .order(package::lower_name.asc())
                .select((package::id, package::name, package::lower_name))
                .load(c))?)
        })
    }

    /// The package's non-internal versions, newest first (by creation time, then id).
    pub fn versions_newest_first(&self, package_id: i64) -> Result<Vec<AgedVersion>, DbError> {
        self.read(|c| versions_newest_first(c, package_id))
    }

    /// Reads the package's versions (newest first) and deletes, with their files, those
    /// `choose` picks (by position), in one transaction: what is chosen is exactly what is
    /// removed, whatever other writers do meanwhile. Blobs stay for the sweep. Returns the
    /// removed versions.
    pub fn remove_chosen_versions(
        &self,
        owner_id: i64,
        package_id: i64,
        mut choose: impl FnMut(&[AgedVersion]) -> Vec<usize>,
    ) -> Result<Vec<AgedVersion>, DbError> {
        self.write(&[Change::Files(owner_id)], |c| {
            if let Conn::Pg(pg) = c {
                // Uploads adding a version to this package wait until the choice is carried
                // out (their foreign key needs a share lock on the row).
                package::table
                    .find(package_id)
                    .select(package::id)
                    .for_update()
                    .first::<i64>(&mut **pg)
                    .optional()?;
            }
            let versions = versions_newest_first(c, package_id)?;
            let chosen: Vec<AgedVersion> = choose(&versions)
                .into_iter()
                .filter_map(|i| versions.get(i).cloned())
                .collect();
            for v in &chosen {
                delete_version_rows(c, v.id)?;
            }
            Ok(chosen)
        })
    }
}

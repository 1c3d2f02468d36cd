//! Package cleanup rules: the one implementation behind `/api/v1/packages/{owner}/-/cleanup-rules`,
//! `forge-server admin cleanup-rules` and the background job, so all three check rules the
//! same way and remove exactly what a preview lists. Blocking.
//!
//! Who may manage an owner's rules is the caller's business (the handlers check the owner's
//! administrators; the command line is the operator). What a rule removes is decided by
//! [`packages_core::retention`]; removals go through the database's normal version delete,
//! so cached reads are dropped and blobs are left to the sweep.

use packages_core::clock::now_unix;

use packages_core::retention::{RetentionPolicy, RuleSettings, VersionAge};
use packages_db::{AgedVersion, CleanupRule, Database, DbError, RuleFields, User};
use serde::Deserialize;

use crate::error::{ServiceError, ServiceResult};
use crate::state::FormatTypes;

/// The answer for a rule that does not exist or belongs to another owner.
pub const NO_RULE: &str = "cleanup rule does not exist";

/// Fields of a rule to create or change; absent ones keep their value (or the default for
/// a new rule: disabled, keep everything young, remove nothing by pattern).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RuleInput {
    pub enabled: Option<bool>,
    #[serde(rename = "type")]
    pub package_type: Option<String>,
    pub keep_count: Option<i32>,
    pub keep_pattern: Option<String>,
    pub remove_days: Option<i32>,
    pub remove_pattern: Option<String>,
    pub match_full_name: Option<bool>,
}

impl RuleInput {
    /// The fields of `base` with this input's values over them.
    fn over(self, base: RuleFields) -> RuleFields {
        let s = base.settings;
        RuleFields {
            enabled: self.enabled.unwrap_or(base.enabled),
            package_type: self.package_type.unwrap_or(base.package_type),
            settings: RuleSettings {
                keep_count: self.keep_count.unwrap_or(s.keep_count),
                keep_pattern: self.keep_pattern.unwrap_or(s.keep_pattern),
                remove_days: self.remove_days.unwrap_or(s.remove_days),
                remove_pattern: self.remove_pattern.unwrap_or(s.remove_pattern),
                match_full_name: self.match_full_name.unwrap_or(s.match_full_name),
            },
        }
    }
}

/// A version a rule removes (or removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub package_type: String,
    pub package: String,
    pub version: String,
    pub created_unix: i64,
}

/// What applying the enabled rules did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub rules: u64,
    pub removed: Vec<Removal>,
    /// Rules that could not be applied, with the reason; the others still ran.
    pub failed: Vec<(i64, String)>,
}

/// Checks a rule's fields (422 naming the field) and compiles its patterns.
fn check(types: &FormatTypes, fields: &RuleFields) -> ServiceResult<RetentionPolicy> {
    if types.find(&fields.package_type).is_none() {
        let known: Vec<&str> = types.names().collect();
        return Err(ServiceError::Refused(format!(
            "type must be one of: {}",
            known.join(", ")
        )));
    }
    RetentionPolicy::new(&fields.settings).map_err(|e| ServiceError::Refused(e.to_string()))
}

fn conflict(e: DbError) -> ServiceError {
    match e {
        DbError::Conflict(_) => {
            ServiceError::Conflict("a cleanup rule for this owner and package type exists already")
        }
        other => other.into(),
    }
}

/// The owner's rules, by type.
pub fn list(db: &Database, owner: &User) -> ServiceResult<Vec<CleanupRule>> {
    Ok(db.cleanup_rules_of(owner.id)?)
}

/// The owner's rule with this id (404 for another owner's).
pub fn find(db: &Database, owner: &User, id: i64) -> ServiceResult<CleanupRule> {
    db.cleanup_rule(id)?
        .filter(|r| r.owner_id == owner.id)
        .ok_or(ServiceError::NotFound(NO_RULE))
}

/// Creates a rule: `type` is required; 422 for a bad field, 409 when the owner has a rule
/// for the type already.
pub fn create(
    db: &Database,
    types: &FormatTypes,
    owner: &User,
    input: RuleInput,
) -> ServiceResult<CleanupRule> {
    if input.package_type.as_deref().is_none_or(str::is_empty) {
        return Err(ServiceError::Refused("type is required".to_owned()));
    }
    let fields = input.over(RuleFields {
        enabled: false,
        package_type: String::new(),
        settings: RuleSettings::default(),
    });
    check(types, &fields)?;
    db.create_cleanup_rule(owner.id, &fields).map_err(conflict)
}

/// Any owner's rule with this id, for the operator's command line.
pub fn by_id(db: &Database, id: i64) -> ServiceResult<CleanupRule> {
    db.cleanup_rule(id)?.ok_or(ServiceError::NotFound(NO_RULE))
}

/// Changes the given fields of a rule (found with [`find`] or [`by_id`]).
pub fn edit(
    db: &Database,
    types: &FormatTypes,
    rule: &CleanupRule,
    input: RuleInput,
) -> ServiceResult<CleanupRule> {
    let fields = input.over(RuleFields {
        enabled: rule.enabled,
        package_type: rule.package_type.clone(),
        settings: rule.settings(),
    });
    check(types, &fields)?;
    db.update_cleanup_rule(rule.id, &fields)
        .map_err(conflict)?
        .ok_or(ServiceError::NotFound(NO_RULE))
}

/// Deletes a rule (found with [`find`] or [`by_id`]).
pub fn delete(db: &Database, rule: &CleanupRule) -> ServiceResult<()> {
    if db.delete_cleanup_rule(rule.id)? {
        Ok(())
    } else {
        Err(ServiceError::NotFound(NO_RULE))
    }
}

/// The positions in `versions` that `policy` removes.
fn chosen(
    policy: &RetentionPolicy,
    lower_name: &str,
    versions: &[AgedVersion],
    now: i64,
) -> Vec<usize> {
    let ages: Vec<VersionAge<'_>> = versions
        .iter()
        .map(|v| VersionAge {
            lower_version: &v.lower_version,
            created_unix: v.created_unix,
        })
        .collect();
    policy.removals(lower_name, &ages, now)
}

/// Goes through the rule's packages; removes what it picks when `remove`, else only lists it.
fn walk(db: &Database, rule: &CleanupRule, remove: bool) -> ServiceResult<Vec<Removal>> {
    let policy =
        RetentionPolicy::new(&rule.settings()).map_err(|e| ServiceError::Refused(e.to_string()))?;
    let now = now_unix();
    let mut out = Vec::new();
    for package in db.packages_of_type(rule.owner_id, &rule.package_type)? {
        let picked = if remove {
            db.remove_chosen_versions(rule.owner_id, package.id, |versions| {
                chosen(&policy, &package.lower_name, versions, now)
            })?
        } else {
            let versions = db.versions_newest_first(package.id)?;
            chosen(&policy, &package.lower_name, &versions, now)
                .into_iter()
                .map(|i| versions[i].clone())
                .collect()
        };
        out.extend(picked.into_iter().map(|v| Removal {
            package_type: rule.package_type.clone(),
            package: package.name.clone(),
            version: v.version,
            created_unix: v.created_unix,
        }));
    }
    Ok(out)
}

/// The versions the rule would remove now, whether or not it is enabled; nothing changes.
pub fn preview(db: &Database, rule: &CleanupRule) -> ServiceResult<Vec<Removal>> {
    walk(db, rule, false)
}

/// Applies the rule now, whether or not it is enabled; returns what it removed.
pub fn apply(db: &Database, rule: &CleanupRule) -> ServiceResult<Vec<Removal>> {
    let removed = walk(db, rule, true)?;
    for r in &removed {
        log::info!(
            "cleanup rule {}: removed {} {} {}",
            rule.id,
            r.package_type,
            r.package,
            r.version
        );
    }
    Ok(removed)
}

/// Applies every enabled rule, as the background job does. A rule that fails is reported
/// and the others still run.
pub fn apply_enabled(db: &Database) -> ServiceResult<RunReport> {
    let mut report = RunReport::default();
    for rule in db.enabled_cleanup_rules()? {
        report.rules += 1;
        match apply(db, &rule) {
            Ok(removed) => report.removed.extend(removed),
            Err(e) => {
                log::warn!("cleanup rule {} failed: {e}", rule.id);
                report.failed.push((rule.id, e.to_string()));
            }
        }
    }
    Ok(report)
}

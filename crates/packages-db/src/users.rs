//! Users and organisations: one table, one namespace.

use diesel::prelude::*;
use packages_core::{lower, OwnerKind};

use crate::changes::Change;
use crate::error::{DbError, TxError, TxResult};
use crate::models::{NewUser, OwnerDeletion, User, UserChanges, UserRow};
use crate::pool::{now_unix, Conn, Database};
use crate::schema::{org_user, package, package_file, package_property, package_version, users};

/// Inserts a user row; a taken name (in any casing) is a conflict.
pub(crate) fn insert_user(c: &mut Conn<'_>, new: &NewUser, kind: OwnerKind) -> TxResult<User> {
    let now = now_unix();
    let lower_name = lower(&new.name);
    let lower_email = lower(&new.email);
    // Organisations cannot sign in, so they never carry a password.
    let password_hash = match kind {
        OwnerKind::User => new.password_hash.as_deref(),
        OwnerKind::Organization => None,
    };
    let values = (
        users::name.eq(&new.name),
        users::lower_name.eq(&lower_name),
        users::kind.eq(kind.as_i16()),
        users::full_name.eq(&new.full_name),
        users::description.eq(&new.description),
        users::email.eq(&new.email),
        users::lower_email.eq(&lower_email),
        users::password_hash.eq(password_hash),
        users::is_admin.eq(new.is_admin),
        users::is_active.eq(new.is_active),
        users::prohibit_login.eq(new.prohibit_login),
        users::is_restricted.eq(new.is_restricted),
        users::visibility.eq(new.visibility.as_i16()),
        users::must_change_password.eq(new.must_change_password),
        users::created_unix.eq(now),
        users::updated_unix.eq(now),
        users::last_login_unix.eq(0i64),
        users::website.eq(&new.website),
        users::location.eq(&new.location),
    );
    let inserted = run!(c, |c| diesel::insert_into(users::table)
        .values(values)
        .returning(UserRow::as_returning())
        .get_result(c));
    match inserted {
        Ok(row) => Ok(row.into()),
        Err(e) => {
            let e = TxError::from(e);
            if e.is_unique_violation_of("lower_email") {
                Err(DbError::EmailTaken.into())
            } else if e.is_unique_violation() {
                Err(DbError::Conflict(format!("name {:?} is already taken", new.name)).into())
            } else {
                Err(e)
            }
        }
    }
}

/// Refuses to take the admin flag from `id`, deactivate it or forbid it to sign in, when no
/// other site administrator that may sign in would remain: an inactive or login-prohibited
/// administrator has no power. On PostgreSQL the administrators' rows are locked first, so
/// two concurrent demotions of the last two cannot both see the other one still standing.
fn keep_an_admin(c: &mut Conn<'_>, id: i64) -> TxResult<()> {
    let admins = users::table
        .filter(users::kind.eq(OwnerKind::User.as_i16()))
        .filter(users::is_admin.eq(true))
        .filter(users::is_active.eq(true))
        .filter(users::prohibit_login.eq(false))
        .select(users::id);
    let ids: Vec<i64> = match c {
        Conn::Pg(pg) => admins.for_update().load(*pg)?,
        // SQLite's write transaction already excludes every other writer.
        Conn::Lite(lite) => admins.load(*lite)?,
    };
    if ids.contains(&id) && ids.len() <= 1 {
        return Err(DbError::LastAdmin.into());
    }
    Ok(())
}

/// Deletes the properties of every package of an owner, which no foreign key reaches.
fn delete_owner_properties(c: &mut Conn<'_>, owner_id: i64) -> TxResult<()> {
    let packages = package::table
        .filter(package::owner_id.eq(owner_id))
        .select(package::id);
    let versions = package_version::table
        .inner_join(package::table)
        .filter(package::owner_id.eq(owner_id))
        .select(package_version::id);
    let files = package_file::table
        .inner_join(package_version::table.inner_join(package::table))
        .filter(package::owner_id.eq(owner_id))
        .select(package_file::id);
    run!(c, |c| diesel::delete(
        package_property::table.filter(
            (package_property::ref_type
                .eq(crate::packages::REF_PACKAGE)
                .and(package_property::ref_id.eq_any(packages)))
            .or(package_property::ref_type
                .eq(crate::packages::REF_VERSION)
                .and(package_property::ref_id.eq_any(versions)))
            .or(package_property::ref_type
                .eq(crate::packages::REF_FILE)
                .and(package_property::ref_id.eq_any(files)))
        )
    )
    .execute(c))?;
    Ok(())
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
struct UserChangeset<'a> {
    password_hash: Option<Option<&'a str>>,
    email: Option<&'a str>,
    lower_email: Option<String>,
    is_admin: Option<bool>,
    is_active: Option<bool>,
    prohibit_login: Option<bool>,
    visibility: Option<i16>,
    must_change_password: Option<bool>,
    full_name: Option<&'a str>,
    description: Option<&'a str>,
    is_restricted: Option<bool>,
    website: Option<&'a str>,
    location: Option<&'a str>,
    updated_unix: i64,
}

/// What deleting an owner changes: the owner, its tokens, its memberships and its files.
fn owner_deleted(id: i64) -> [Change; 4] {
    [
        Change::Owner(id),
        Change::Tokens(id),
        Change::Teams(id),
        Change::Files(id),
    ]
}

impl Database {
    /// Creates a user (or, with `kind` organisation, an organisation without teams; prefer
    /// [`Database::create_org`]). A name taken in any casing is [`DbError::Conflict`].
    pub fn create_user(&self, new: &NewUser) -> Result<User, DbError> {
        // Only positive look-ups are cached: a new user changes nothing cached.
        self.write_additive(|c| insert_user(c, new, new.kind))
    }

    /// The user or organisation with this name, compared case-insensitively.
    pub fn user_by_name(&self, name: &str) -> Result<Option<User>, DbError> {
        let lower_name = lower(name);
        self.read(|c| {
            let row = run!(c, |c| users::table
                .filter(users::lower_name.eq(&lower_name))
                .select(UserRow::as_select())
                .first(c)
                .optional())?;
            Ok(row.map(User::from))
        })
    }

    /// The user or organisation with this id.
    pub fn user_by_id(&self, id: i64) -> Result<Option<User>, DbError> {
        self.read(|c| {
            let row = run!(c, |c| users::table
                .find(id)
                .select(UserRow::as_select())
                .first(c)
                .optional())?;
            Ok(row.map(User::from))
        })
    }

    /// Every user, organisation, or both (`None`), by id.
    pub fn list_users(&self, kind: Option<OwnerKind>) -> Result<Vec<User>, DbError> {
        self.read(|c| {
            let rows: Vec<UserRow> = run!(c, |c| {
                let mut q = users::table.select(UserRow::as_select()).into_boxed();
                if let Some(k) = kind {
                    q = q.filter(users::kind.eq(k.as_i16()));
                }
                q.order(users::id.asc()).load(c)
            })?;
            Ok(rows.into_iter().map(User::from).collect())
        })
    }

    /// Applies the given changes; [`DbError::NotFound`] for an unknown id.
    pub fn update_user(&self, id: i64, changes: &UserChanges) -> Result<User, DbError> {
        let set = UserChangeset {
            password_hash: changes.password_hash.as_ref().map(|p| p.as_deref()),
            email: changes.email.as_deref(),
            lower_email: changes.email.as_deref().map(lower),
            is_admin: changes.is_admin,
            is_active: changes.is_active,
            prohibit_login: changes.prohibit_login,
            visibility: changes.visibility.map(|v| v.as_i16()),
            must_change_password: changes.must_change_password,
            full_name: changes.full_name.as_deref(),
            description: changes.description.as_deref(),
            is_restricted: changes.is_restricted,
            website: changes.website.as_deref(),
            location: changes.location.as_deref(),
            updated_unix: now_unix(),
        };
        self.write(&[Change::Owner(id)], |c| {
            if changes.is_admin == Some(false)
                || changes.is_active == Some(false)
                || changes.prohibit_login == Some(true)
            {
                keep_an_admin(c, id)?;
            }
            let row = run!(c, |c| diesel::update(users::table.find(id))
                .set(&set)
                .returning(UserRow::as_returning())
                .get_result(c)
                .optional());
            let row = row.map_err(|e| {
                let e = TxError::from(e);
                if e.is_unique_violation_of("lower_email") {
                    DbError::EmailTaken.into()
                } else {
                    e
                }
            })?;
            row.map(User::from).ok_or(DbError::NotFound.into())
        })
    }

    /// Deletes a user or organisation with its tokens, memberships, teams and packages.
    /// Blobs stay for the sweep. False when there was no such user.
    pub fn delete_user(&self, id: i64) -> Result<bool, DbError> {
        self.write(&owner_deleted(id), |c| {
            delete_owner_properties(c, id)?;
            let n = run!(c, |c| diesel::delete(users::table.find(id)).execute(c))?;
            Ok(n > 0)
        })
    }

    /// Records a successful sign-in now.
    pub fn touch_last_login(&self, id: i64) -> Result<(), DbError> {
        let now = now_unix();
        // Bookkeeping only: what cached reads use of the user stays the same.
        self.write_additive(|c| {
            run!(c, |c| diesel::update(users::table.find(id))
                .set(users::last_login_unix.eq(now))
                .execute(c))?;
            Ok(())
        })
    }

    /// Whether a user (not an organisation) other than `except_id` has this e-mail address,
    /// compared case-insensitively. Empty addresses are never in use.
    pub fn email_in_use(&self, email: &str, except_id: Option<i64>) -> Result<bool, DbError> {
        let lower_email = lower(email);
        if lower_email.is_empty() {
            return Ok(false);
        }
        let except = except_id.unwrap_or(0);
        self.read(|c| {
            Ok(run!(c, |c| diesel::select(diesel::dsl::exists(
                users::table
                    .filter(users::lower_email.eq(&lower_email))
                    .filter(users::kind.eq(OwnerKind::User.as_i16()))
                    .filter(users::id.ne(except))
            ))
            .get_result(c))?)
        })
    }

    /// The number of site administrators (users with the admin flag, active or not).
    pub fn count_admins(&self) -> Result<u64, DbError> {
        self.read(|c| {
            let n: i64 = run!(c, |c| users::table
                .filter(users::kind.eq(OwnerKind::User.as_i16()))
                .filter(users::is_admin.eq(true))
                .count()
                .get_result(c))?;
            Ok(n.max(0) as u64)
        })
    }

    /// Deletes a user or organisation unless it still owns packages (a package counts while
    /// it has a non-internal version) or, for a user, still belongs to an organisation: the
    /// reference server refuses both so that nothing is lost by accident. Checks and delete
    /// run in one transaction; blobs stay for the sweep.
    pub fn delete_owner_if_unused(&self, id: i64) -> Result<OwnerDeletion, DbError> {
        self.write(&owner_deleted(id), |c| {
            let kind: Option<i16> = run!(c, |c| users::table
                .find(id)
                .select(users::kind)
                .first(c)
                .optional())?;
            let Some(kind) = kind else {
                return Ok(OwnerDeletion::NotFound);
            };
            if kind == OwnerKind::User.as_i16() {
                keep_an_admin(c, id)?;
            }
            let owns_packages: bool = run!(c, |c| diesel::select(diesel::dsl::exists(
                package_version::table
                    .inner_join(package::table)
                    .filter(package::owner_id.eq(id))
                    .filter(package_version::is_internal.eq(false))
            ))
            .get_result(c))?;
            if owns_packages {
                return Ok(OwnerDeletion::OwnsPackages);
            }
            if OwnerKind::from_i16(kind) == OwnerKind::User {
                let in_orgs: bool = run!(c, |c| diesel::select(diesel::dsl::exists(
                    org_user::table.filter(org_user::user_id.eq(id))
                ))
                .get_result(c))?;
                if in_orgs {
                    return Ok(OwnerDeletion::InOrganizations);
                }
            }
            delete_owner_properties(c, id)?;
            run!(c, |c| diesel::delete(users::table.find(id)).execute(c))?;
            Ok(OwnerDeletion::Deleted)
        })
    }
}

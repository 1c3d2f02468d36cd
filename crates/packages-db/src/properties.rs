//! The properties formats keep beside packages, versions and files: written with an upload
//! (`FileDetails::properties`), read, and changed or removed later (npm dist-tags, Cargo's
//! yanked flag).

use diesel::prelude::*;

use crate::error::DbError;
use crate::models::PropertyOf;
use crate::pool::Database;
use crate::schema::{package_property, package_version};

impl Database {
    /// The `(ref_id, name, value)` of every property of the given scope of the given ids,
    /// in insertion order.
    pub fn properties(
        &self,
        of: PropertyOf,
        ref_ids: &[i64],
    ) -> Result<Vec<(i64, String, String)>, DbError> {
        self.properties_named(of, ref_ids, None)
    }

    /// [`Database::properties`], only those called `name` when one is given.
    pub fn properties_named(
        &self,
        of: PropertyOf,
        ref_ids: &[i64],
        name: Option<&str>,
    ) -> Result<Vec<(i64, String, String)>, DbError> {
        if ref_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|c| {
            let mut rows = Vec::new();
            // Bounded chunks keep the statement within every backend's parameter limit.
            for chunk in ref_ids.chunks(500) {
                let part: Vec<(i64, String, String)> = run!(c, |c| {
                    let mut q = package_property::table
                        .filter(package_property::ref_type.eq(of.ref_type()))
                        .filter(package_property::ref_id.eq_any(chunk))
                        .into_boxed();
                    if let Some(name) = name {
                        q = q.filter(package_property::name.eq(name));
                    }
                    q.order(package_property::id)
                        .select((
                            package_property::ref_id,
                            package_property::name,
                            package_property::value,
                        ))
                        .load(c)
                })?;
                rows.extend(part);
            }
            Ok(rows)
        })
    }

    /// Sets the property `name` of one package, version or file to `value`, in place of
    /// every earlier value of that name.
    pub fn set_property(
        &self,
        of: PropertyOf,
        ref_id: i64,
        name: &str,
        value: &str,
    ) -> Result<(), DbError> {
        // Properties are read straight from the database, so no cached read goes stale.
        self.write(&[], |c| {
            run!(c, |c| diesel::delete(
                package_property::table
                    .filter(package_property::ref_type.eq(of.ref_type()))
                    .filter(package_property::ref_id.eq(ref_id))
                    .filter(package_property::name.eq(name))
            )
            .execute(c))?;
            run!(c, |c| diesel::insert_into(package_property::table)
                .values((
                    package_property::ref_type.eq(of.ref_type()),
                    package_property::ref_id.eq(ref_id),
                    package_property::name.eq(name),
                    package_property::value.eq(value),
                ))
                .execute(c))?;
            Ok(())
        })
    }

    /// Removes the property `name` of one package, version or file; false when it had none.
    pub fn remove_property(
        &self,
        of: PropertyOf,
        ref_id: i64,
        name: &str,
    ) -> Result<bool, DbError> {
        self.write(&[], |c| {
            let removed = run!(c, |c| diesel::delete(
                package_property::table
                    .filter(package_property::ref_type.eq(of.ref_type()))
                    .filter(package_property::ref_id.eq(ref_id))
                    .filter(package_property::name.eq(name))
            )
            .execute(c))?;
            Ok(removed > 0)
        })
    }

    /// Gives the version property `name` = `value` to one version of a package alone: every
    /// other version of the package that had it loses it, in the same transaction (npm's
    /// dist-tags). With `None`, no version keeps it. False when `version_id` is not a
    /// version of the package.
    pub fn set_version_label(
        &self,
        package_id: i64,
        name: &str,
        value: &str,
        version_id: Option<i64>,
    ) -> Result<bool, DbError> {
        self.write(&[], |c| {
            if let Some(version_id) = version_id {
                let of_package: i64 = run!(c, |c| package_version::table
                    .filter(package_version::id.eq(version_id))
                    .filter(package_version::package_id.eq(package_id))
                    .count()
                    .get_result(c))?;
                if of_package == 0 {
                    return Ok(false);
                }
            }
            let versions = package_version::table
                .filter(package_version::package_id.eq(package_id))
                .select(package_version::id);
            run!(c, |c| diesel::delete(
                package_property::table
                    .filter(package_property::ref_type.eq(PropertyOf::Version.ref_type()))
                    .filter(package_property::ref_id.eq_any(versions))
                    .filter(package_property::name.eq(name))
                    .filter(package_property::value.eq(value))
            )
            .execute(c))?;
            if let Some(version_id) = version_id {
                run!(c, |c| diesel::insert_into(package_property::table)
                    .values((
                        package_property::ref_type.eq(PropertyOf::Version.ref_type()),
                        package_property::ref_id.eq(version_id),
                        package_property::name.eq(name),
                        package_property::value.eq(value),
                    ))
                    .execute(c))?;
            }
            Ok(true)
        })
    }
}

//! Deletion of files, versions and packages. Blobs are never deleted here: the sweep removes
//! them once no file references them.

use diesel::dsl::{exists, not};
use diesel::prelude::*;
use packages_core::{lower, PackageType};

use crate::changes::Change;
use crate::error::{DbError, TxResult};
use crate::models::DeleteFileOutcome;
use crate::packages::{find_package_id, find_version, REF_FILE, REF_PACKAGE, REF_VERSION};
use crate::pool::{Conn, Database};
use crate::schema::{package, package_file, package_property, package_version};

/// Deletes the properties of the given files.
fn delete_file_properties(c: &mut Conn<'_>, file_ids: &[i64]) -> TxResult<()> {
    if file_ids.is_empty() {
        return Ok(());
    }
    run!(c, |c| diesel::delete(
        package_property::table
            .filter(package_property::ref_type.eq(REF_FILE))
            .filter(package_property::ref_id.eq_any(file_ids))
    )
    .execute(c))?;
    Ok(())
}

/// Deletes a version with its files and all their properties.
pub(crate) fn delete_version_rows(c: &mut Conn<'_>, version_id: i64) -> TxResult<()> {
    let file_ids: Vec<i64> = run!(c, |c| package_file::table
        .filter(package_file::version_id.eq(version_id))
        .select(package_file::id)
        .load(c))?;
    delete_file_properties(c, &file_ids)?;
    run!(c, |c| diesel::delete(
        package_property::table
            .filter(package_property::ref_type.eq(REF_VERSION))
            .filter(package_property::ref_id.eq(version_id))
    )
    .execute(c))?;
    run!(c, |c| diesel::delete(
        package_file::table.filter(package_file::version_id.eq(version_id))
    )
    .execute(c))?;
    run!(c, |c| diesel::delete(
        package_version::table.find(version_id)
    )
    .execute(c))?;
    Ok(())
}

impl Database {
    /// Deletes a version with its files in one transaction. Blobs and the package row stay
    /// for the sweep. False when there was no such (non-internal) version.
    pub fn delete_version(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
        lower_version: &str,
    ) -> Result<bool, DbError> {
        let (name, version) = (lower_name, lower(lower_version));
        self.write(&[Change::Files(owner_id)], |c| {
            let Some(v) = find_version(c, owner_id, ptype, name, &version)? else {
                return Ok(false);
            };
            delete_version_rows(c, v.id)?;
            Ok(true)
        })
    }

    /// Deletes one file; when it is the version's last file the version goes too.
    pub fn delete_file(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
        lower_version: &str,
        lower_file: &str,
    ) -> Result<DeleteFileOutcome, DbError> {
        let (name, version, file) = (lower_name, lower(lower_version), lower(lower_file));
        self.write(&[Change::Files(owner_id)], |c| {
            let Some(v) = find_version(c, owner_id, ptype, name, &version)? else {
                return Ok(DeleteFileOutcome::NoVersion);
            };
            let file_id: Option<i64> = run!(c, |c| package_file::table
                .filter(package_file::version_id.eq(v.id))
                .filter(package_file::lower_name.eq(&file))
                .filter(package_file::composite_key.eq(""))
                .select(package_file::id)
                .first(c)
                .optional())?;
            let Some(file_id) = file_id else {
                return Ok(DeleteFileOutcome::NoFile);
            };
            let files: i64 = run!(c, |c| package_file::table
                .filter(package_file::version_id.eq(v.id))
                .count()
                .get_result(c))?;
            if files <= 1 {
                delete_version_rows(c, v.id)?;
                return Ok(DeleteFileOutcome::Deleted {
                    version_removed: true,
                });
            }
            delete_file_properties(c, &[file_id])?;
            run!(c, |c| diesel::delete(package_file::table.find(file_id))
                .execute(c))?;
            Ok(DeleteFileOutcome::Deleted {
                version_removed: false,
            })
        })
    }

    /// Deletes a package with all its versions and files (blobs stay for the sweep). False
    /// when there was no such package.
    pub fn delete_package(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
    ) -> Result<bool, DbError> {
        let name = lower_name;
        self.write(&[Change::Files(owner_id)], |c| {
            let Some(package_id) = find_package_id(c, owner_id, ptype.as_str(), name)? else {
                return Ok(false);
            };
            let version_ids: Vec<i64> = run!(c, |c| package_version::table
                .filter(package_version::package_id.eq(package_id))
                .select(package_version::id)
                .load(c))?;
            for version_id in version_ids {
                delete_version_rows(c, version_id)?;
            }
            run!(c, |c| diesel::delete(
                package_property::table
                    .filter(package_property::ref_type.eq(REF_PACKAGE))
                    .filter(package_property::ref_id.eq(package_id))
            )
            .execute(c))?;
            run!(c, |c| diesel::delete(package::table.find(package_id))
                .execute(c))?;
            Ok(true)
        })
    }

    /// Deletes every package that has no version left, with its properties; returns how
    /// many. A package that an upload is adding a version to at the same time is kept.
    pub fn delete_packages_without_versions(&self) -> Result<u64, DbError> {
        // Only packages without versions go: no file look-up can change.
        self.write(&[], |c| {
            let without_versions = not(exists(
                package_version::table.filter(package_version::package_id.eq(package::id)),
            ));
            let ids: Vec<i64> = match c {
                Conn::Pg(pg) => {
                    // Lock the candidates, skipping any an upload holds (its new version's
                    // foreign key locks the package row). The delete below runs with a new
                    // snapshot, so a version committed before the lock was taken is seen and
                    // keeps its package; later ones wait for this transaction.
                    let locked: Vec<i64> = package::table
                        .filter(without_versions)
                        .select(package::id)
                        .for_update()
                        .skip_locked()
                        .load(&mut **pg)?;
                    if locked.is_empty() {
                        return Ok(0);
                    }
                    diesel::delete(
                        package::table
                            .filter(package::id.eq_any(&locked))
                            .filter(without_versions),
                    )
                    .returning(package::id)
                    .get_results(&mut **pg)?
                }
                // SQLite writers are serialised by BEGIN IMMEDIATE: nothing can interleave.
                Conn::Lite(lite) => diesel::delete(package::table.filter(without_versions))
                    .returning(package::id)
                    .get_results(&mut **lite)?,
            };
            for chunk in ids.chunks(10_000) {
                run!(c, |c| diesel::delete(
                    package_property::table
                        .filter(package_property::ref_type.eq(REF_PACKAGE))
                        .filter(package_property::ref_id.eq_any(chunk))
                )
                .execute(c))?;
            }
            Ok(ids.len() as u64)
        })
    }
}

//! What package indexes (such as PyPI's simple index) read: an owner's package names of one
//! type, and every file of a package with its version and blob.

use diesel::prelude::*;
use packages_core::PackageType;

use crate::error::DbError;
use crate::models::{Package, PackageBlob, PackageFile, PackageVersion};
use crate::pool::Database;
use crate::schema::{package, package_blob, package_file, package_version};

/// A file of a package with its version and content, as an index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedFile {
    pub version: PackageVersion,
    pub file: PackageFile,
    pub blob: PackageBlob,
}

impl Database {
    /// The owner's packages of `ptype` that have at least one non-internal version, by
    /// look-up name.
    pub fn packages_with_versions(
        &self,
        owner_id: i64,
        ptype: PackageType,
    ) -> Result<Vec<Package>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package::table
                .filter(package::owner_id.eq(owner_id))
                .filter(package::package_type.eq(ptype.as_str()))
                .filter(diesel::dsl::exists(
                    package_version::table
                        .filter(package_version::package_id.eq(package::id))
                        .filter(package_version::is_internal.eq(false))
                ))
                .order(package::lower_name.asc())
                .select(Package::as_select())
                .load(c))?)
        })
    }

    /// The ids and creation times of the package's non-internal versions, oldest first: what
    /// an index's validators are made of, read without the versions' files and metadata.
    pub fn version_stamps(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lookup_name: &str,
    ) -> Result<Vec<(i64, i64)>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package_version::table
                .inner_join(package::table)
                .filter(package::owner_id.eq(owner_id))
                .filter(package::package_type.eq(ptype.as_str()))
                .filter(package::lower_name.eq(lookup_name))
                .filter(package_version::is_internal.eq(false))
                .order(package_version::id.asc())
                .select((package_version::id, package_version::created_unix))
                .load::<(i64, i64)>(c))?)
        })
    }

    /// The package with this look-up name and every file of its non-internal versions, in
    /// upload order; `None` when the package has no such version.
    pub fn package_files(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lookup_name: &str,
    ) -> Result<Option<(Package, Vec<IndexedFile>)>, DbError> {
        self.read(|c| {
            let rows: Vec<(Package, PackageVersion, PackageFile, PackageBlob)> =
                run!(c, |c| package_file::table
                    .inner_join(package_version::table.inner_join(package::table))
                    .inner_join(package_blob::table)
                    .filter(package::owner_id.eq(owner_id))
                    .filter(package::package_type.eq(ptype.as_str()))
                    .filter(package::lower_name.eq(lookup_name))
                    .filter(package_version::is_internal.eq(false))
                    .order((package_version::id.asc(), package_file::id.asc()))
                    .select((
                        Package::as_select(),
                        PackageVersion::as_select(),
                        PackageFile::as_select(),
                        PackageBlob::as_select(),
                    ))
                    .load(c))?;
            let mut rows = rows.into_iter().peekable();
            let Some((package, ..)) = rows.peek().cloned() else {
                return Ok(None);
            };
            let files = rows
                .map(|(_, version, file, blob)| IndexedFile {
                    version,
                    file,
                    blob,
                })
                .collect();
            Ok(Some((package, files)))
        })
    }
}

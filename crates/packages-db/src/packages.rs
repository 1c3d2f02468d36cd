//! Packages, versions and files: upload, look-up, download counts and usage.

use diesel::dsl::{exists, sql};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use packages_core::{lower, PackageType};

use crate::blobs::get_or_create_blob;
use crate::error::{DbError, TxResult};
use crate::models::{
    AddedFile, FileDetails, FileLookup, NewProperty, NewUpload, PackageBlob, PackageFile,
    PackageVersion, PropertyOf,
};
use crate::one_statement_upload;
use crate::pool::{now_unix, Conn, Database, Retry};
use crate::schema::{
    package, package_blob, package_file, package_property, package_version, users,
};

pub(crate) use crate::models::{REF_FILE, REF_PACKAGE, REF_VERSION};

/// The non-internal version with these (lowercased) coordinates.
pub(crate) fn find_version(
    c: &mut Conn<'_>,
    owner_id: i64,
    ptype: PackageType,
    lower_name: &str,
    lower_version: &str,
) -> TxResult<Option<PackageVersion>> {
    Ok(run!(c, |c| package_version::table
        .inner_join(package::table)
        .filter(package::owner_id.eq(owner_id))
        .filter(package::package_type.eq(ptype.as_str()))
        .filter(package::lower_name.eq(lower_name))
        .filter(package_version::lower_version.eq(lower_version))
        .filter(package_version::is_internal.eq(false))
        .select(PackageVersion::as_select())
        .first(c)
        .optional())?)
}

/// The id of the package with these (lowercased) coordinates.
pub(crate) fn find_package_id(
    c: &mut Conn<'_>,
    owner_id: i64,
    ptype: &str,
    lower_name: &str,
) -> TxResult<Option<i64>> {
    Ok(run!(c, |c| package::table
        .filter(package::owner_id.eq(owner_id))
        .filter(package::package_type.eq(ptype))
        .filter(package::lower_name.eq(lower_name))
        .select(package::id)
        .first(c)
        .optional())?)
}

/// Finds the package or creates it with the given casing; the flag tells whether it is new.
/// A concurrent creator makes the insert do nothing (on PostgreSQL it waits for that
/// transaction first), and the row it committed is read instead.
fn get_or_create_package(
    c: &mut Conn<'_>,
    u: &NewUpload,
    lower_name: &str,
) -> TxResult<(i64, bool)> {
    let ptype = u.ptype.as_str();
    if let Some(id) = find_package_id(c, u.owner_id, ptype, lower_name)? {
        return Ok((id, false));
    }
    let inserted: Option<i64> = run!(c, |c| diesel::insert_into(package::table)
        .values((
            package::owner_id.eq(u.owner_id),
            package::repo_id.eq(0i64),
            package::package_type.eq(ptype),
            package::name.eq(&u.name),
            package::lower_name.eq(lower_name),
            package::semver_compatible.eq(false),
            package::is_internal.eq(false),
        ))
        .on_conflict((
            package::owner_id,
            package::package_type,
            package::lower_name
        ))
        .do_nothing()
        .returning(package::id)
        .get_result(c)
        .optional())?;
    match inserted {
        Some(id) => Ok((id, true)),
        None => find_package_id(c, u.owner_id, ptype, lower_name)?
            .map(|id| (id, false))
            .ok_or_else(|| DbError::Other("package vanished during upload".into()).into()),
    }
}

/// The id of the package's version with this lowercased version string.
fn find_version_id(
    c: &mut Conn<'_>,
    package_id: i64,
    lower_version: &str,
) -> TxResult<Option<i64>> {
    Ok(run!(c, |c| package_version::table
        .filter(package_version::package_id.eq(package_id))
        .filter(package_version::lower_version.eq(lower_version))
        .select(package_version::id)
        .first(c)
        .optional())?)
}

/// Finds the version or creates it; the flag tells whether it is new.
fn get_or_create_version(
    c: &mut Conn<'_>,
    u: &NewUpload,
    details: &FileDetails,
    package_id: i64,
    now: i64,
) -> TxResult<(i64, bool)> {
    let lower_version = lower(&u.version);
    // Insert first: uploads mostly create versions, and a conflict costs the same one extra
    // look-up that a look-up first would cost every new version.
    let inserted: Option<i64> = run!(c, |c| diesel::insert_into(package_version::table)
        .values((
            package_version::package_id.eq(package_id),
            package_version::creator_id.eq(u.creator_id),
            package_version::version.eq(&u.version),
            package_version::lower_version.eq(&lower_version),
            package_version::created_unix.eq(now),
            package_version::is_internal.eq(details.internal_version),
            package_version::metadata_json.eq(&details.version_metadata),
            package_version::download_count.eq(0i64),
        ))
        .on_conflict((package_version::package_id, package_version::lower_version))
        .do_nothing()
        .returning(package_version::id)
        .get_result(c)
        .optional())?;
    match inserted {
        Some(id) => Ok((id, true)),
        None => find_version_id(c, package_id, &lower_version)?
            .map(|id| (id, false))
            .ok_or_else(|| DbError::Other("version vanished during upload".into()).into()),
    }
}

/// The number of the owner's non-internal versions.
fn owner_version_count(c: &mut Conn<'_>, owner_id: i64) -> TxResult<i64> {
    Ok(run!(c, |c| package_version::table
        .inner_join(package::table)
        .filter(package::owner_id.eq(owner_id))
        .filter(package_version::is_internal.eq(false))
        .count()
        .get_result(c))?)
}

/// The bytes of all files of the owner's non-internal versions, a shared blob counted once
/// per file that uses it.
pub(crate) fn owner_size(c: &mut Conn<'_>, owner_id: i64) -> TxResult<i64> {
    // SUM over BIGINT is NUMERIC on PostgreSQL; the cast gives both backends one type.
    Ok(run!(c, |c| package_file::table
        .inner_join(package_version::table.inner_join(package::table))
        .inner_join(package_blob::table)
        .filter(package::owner_id.eq(owner_id))
        .filter(package_version::is_internal.eq(false))
        .select(sql::<BigInt>(
            "CAST(COALESCE(SUM(package_blob.size), 0) AS BIGINT)"
        ))
        .get_result(c))?)
}

/// Writes the properties of one scope; `ref_id` is the package, version or file they belong to.
pub(crate) fn add_properties(
    c: &mut Conn<'_>,
    properties: &[NewProperty],
    of: PropertyOf,
    ref_id: i64,
) -> TxResult<()> {
    let rows = properties
        .iter()
        .filter(|p| p.of == of)
        .map(|p| {
            (
                package_property::ref_type.eq(of.ref_type()),
                package_property::ref_id.eq(ref_id),
                package_property::name.eq(&p.name),
                package_property::value.eq(&p.value),
            )
        })
        .collect::<Vec<_>>();
    if !rows.is_empty() {
        run!(c, |c| diesel::insert_into(package_property::table)
            .values(&rows)
            .execute(c))?;
    }
    Ok(())
}

/// Makes uploads into one owner that check its limits take turns on PostgreSQL: at READ
/// COMMITTED two of them would otherwise both count the owner's usage without the other's
/// file and both pass. The owner's row is locked in a mode that conflicts only with itself
/// and with updates of the row, not with the foreign-key checks of other inserts. (SQLite
/// runs one writer at a time anyway.)
pub(crate) fn lock_owner_for_limits(c: &mut Conn<'_>, owner_id: i64) -> TxResult<()> {
    if let Conn::Pg(pg) = c {
        users::table
            .find(owner_id)
            .select(users::id)
            .for_no_key_update()
            .first::<i64>(&mut **pg)
            .optional()?;
    }
    Ok(())
}

/// The whole upload transaction: package, version, limits, blob, file, properties.
fn add_file_tx(c: &mut Conn<'_>, u: &NewUpload, details: &FileDetails) -> TxResult<AddedFile> {
    let now = now_unix();
    let lower_name = &details.lower_name;
    let limits = u.limits;
    if !limits.exempt
        && (limits.total_owner_count != packages_core::Limit::None
            || limits.total_owner_size != packages_core::Limit::None)
    {
        // Before the version is created, so that its count includes every earlier winner.
        lock_owner_for_limits(c, u.owner_id)?;
    }
    let (package_id, package_created) = get_or_create_package(c, u, lower_name)?;
    let (version_id, version_created) = get_or_create_version(c, u, details, package_id, now)?;
    if version_created && !limits.exempt && limits.total_owner_count != packages_core::Limit::None {
        let count = owner_version_count(c, u.owner_id)?;
        if limits.total_owner_count.exceeded_by(count.max(0) as u64) {
            return Err(DbError::CountLimit.into());
        }
    }
    if !limits.exempt && limits.total_owner_size != packages_core::Limit::None {
        let used = owner_size(c, u.owner_id)?.max(0) as u64;
        let size = u.digests.size.max(0) as u64;
        if limits
            .total_owner_size
            .exceeded_by(used.saturating_add(size))
        {
            return Err(DbError::SizeLimit.into());
        }
    }
    let (blob_id, blob_created) = get_or_create_blob(c, &u.digests, u.storage_key.as_deref(), now)?;
    let lower_file = lower(&u.file_name);
    let file_id: Option<i64> = run!(c, |c| diesel::insert_into(package_file::table)
        .values((
            package_file::version_id.eq(version_id),
            package_file::blob_id.eq(blob_id),
            package_file::name.eq(&u.file_name),
            package_file::lower_name.eq(&lower_file),
            package_file::composite_key.eq(&details.composite_key),
            package_file::is_lead.eq(details.is_lead),
            package_file::created_unix.eq(now),
        ))
        .on_conflict((
            package_file::version_id,
            package_file::lower_name,
            package_file::composite_key,
        ))
        .do_nothing()
        .returning(package_file::id)
        .get_result(c)
        .optional())?;
    let file_id = file_id.ok_or(DbError::FileExists)?;
    if package_created {
        add_properties(c, &details.properties, PropertyOf::Package, package_id)?;
    }
    if version_created {
        add_properties(c, &details.properties, PropertyOf::Version, version_id)?;
    }
    add_properties(c, &details.properties, PropertyOf::File, file_id)?;
    Ok(AddedFile {
        package_id,
        version_id,
        file_id,
        blob_id,
        blob_created,
        version_created,
    })
}

impl Database {
    /// Adds one file to a package version in one transaction, creating the package and the
    /// version as needed (the package keeps the casing of its first upload) and sharing the
    /// blob with every file of the same SHA-256.
    ///
    /// Errors: [`DbError::CountLimit`] when a new version takes the owner over the count
    /// limit, [`DbError::SizeLimit`] when the file takes the owner over the size limit (both
    /// skipped when `limits.exempt`), [`DbError::FileExists`] when the version already has a
    /// file of this name in any casing, [`DbError::NotFound`] when the owner does not exist.
    /// Concurrent uploads of different files into the same new version all succeed.
    pub fn add_file(&self, upload: &NewUpload) -> Result<AddedFile, DbError> {
        self.add_file_with(upload, &FileDetails::plain(&upload.name))
    }

    /// [`Database::add_file`] with what a format stores of its own: the look-up form of the
    /// name, the metadata of a new version, the file's composite key and lead flag, and
    /// properties (package ones written when the package is created, version ones when the
    /// version is).
    pub fn add_file_with(
        &self,
        upload: &NewUpload,
        details: &FileDetails,
    ) -> Result<AddedFile, DbError> {
        if one_statement_upload::applies(upload, details) {
            let quick = self.pg_single_statement(|pg| {
                one_statement_upload::add_file(pg, upload, details, now_unix())
            });
            match quick {
                Some(Ok(Some(added))) => return Ok(added),
                // Not PostgreSQL, declined without a change, or chosen as a deadlock's
                // victim (the abort undid the statement): the general transaction below
                // decides, and retries what it loses.
                None | Some(Ok(None)) => {}
                Some(Err(e)) if e.is_retryable() => {}
                Some(Err(e)) => return Err(e.into()),
            }
        }
        // A concurrent sweep may remove the package or the blob this transaction found; the
        // foreign key then fails and a new attempt recreates them.
        self.write_raw(Retry::ConflictsAndForeignKeys, |c| {
            add_file_tx(c, upload, details)
        })
        .map_err(|e| {
            if e.is_foreign_key_violation() {
                // Still failing after the retries: the owner itself does not exist.
                DbError::NotFound
            } else {
                DbError::from(e)
            }
        })
    }

    /// Looks a file up for download; names, versions and file names compare
    /// case-insensitively. Internal versions are never found.
    pub fn find_file(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
        lower_version: &str,
        lower_file: &str,
    ) -> Result<FileLookup, DbError> {
        let (name, version, file) = (lower_name, lower(lower_version), lower(lower_file));
        self.read(|c| {
            let Some(v) = find_version(c, owner_id, ptype, name, &version)? else {
                return Ok(FileLookup::NoVersion);
            };
            let found: Option<(PackageFile, PackageBlob)> = run!(c, |c| package_file::table
                .inner_join(package_blob::table)
                .filter(package_file::version_id.eq(v.id))
                .filter(package_file::lower_name.eq(&file))
                .filter(package_file::composite_key.eq(""))
                .select((PackageFile::as_select(), PackageBlob::as_select()))
                .first(c)
                .optional())?;
            Ok(match found {
                None => FileLookup::NoFile { version_id: v.id },
                Some((file, blob)) => FileLookup::Found {
                    version: v,
                    file,
                    blob,
                },
            })
        })
    }

    /// True when the file exists in a non-internal version (case-insensitive).
    pub fn file_exists(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
        lower_version: &str,
        lower_file: &str,
    ) -> Result<bool, DbError> {
        let (name, version, file) = (lower_name, lower(lower_version), lower(lower_file));
        self.read(|c| {
            Ok(run!(c, |c| diesel::select(exists(
                package_file::table
                    .inner_join(package_version::table.inner_join(package::table))
                    .filter(package::owner_id.eq(owner_id))
                    .filter(package::package_type.eq(ptype.as_str()))
                    .filter(package::lower_name.eq(name))
                    .filter(package_version::lower_version.eq(&version))
                    .filter(package_version::is_internal.eq(false))
                    .filter(package_file::lower_name.eq(&file))
                    .filter(package_file::composite_key.eq(""))
            ))
            .get_result(c))?)
        })
    }

    /// Counts one download of the version, atomically in the database.
    pub fn count_download(&self, version_id: i64) -> Result<(), DbError> {
        self.write_additive(|c| {
            run!(c, |c| diesel::update(
                package_version::table.find(version_id)
            )
            .set(package_version::download_count.eq(package_version::download_count + 1))
            .execute(c))?;
            Ok(())
        })
    }

    /// The owner's number of non-internal versions and the bytes their files take, a shared
    /// blob counted once per file.
    pub fn owner_usage(&self, owner_id: i64) -> Result<(u64, u64), DbError> {
        self.read(|c| {
            let versions = owner_version_count(c, owner_id)?;
            let bytes = owner_size(c, owner_id)?;
            Ok((versions.max(0) as u64, bytes.max(0) as u64))
        })
    }
}

//! Look-ups and writes of content-addressed formats (container images): content found by its
//! digest anywhere in a package, a version whose files are replaced at once (a tag moved to
//! another manifest), versions found by a property (referrers of a manifest), and the
//! listings of tags and repositories.
//!
//! The shape is the reference registry's: an image is a package, each manifest a version
//! (named by its tag, or by its digest when untagged) whose lead file is the manifest and
//! whose other files are the blobs and child manifests it references, so a referenced blob
//! is never swept. Blobs uploaded but not yet referenced are files of an internal version.

use diesel::prelude::*;
use packages_core::{lower, Digests, Limit, PackageType};

use crate::blobs::get_or_create_blob;
use crate::changes::Change;
use crate::error::{DbError, TxResult};
use crate::models::{NewProperty, Package, PackageBlob, PackageVersion, PropertyOf, UploadLimits};
use crate::packages::{
    add_properties, find_package_id, lock_owner_for_limits, owner_size, REF_FILE, REF_VERSION,
};
use crate::pool::{now_unix, Conn, Database};
use crate::schema::{
    package, package_blob, package_file, package_property, package_version, users,
};

/// A manifest (or any version's lead file) with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadContent {
    pub version: PackageVersion,
    pub blob: PackageBlob,
}

/// A version to write with [`Database::put_version_files`].
#[derive(Debug, Clone)]
pub struct NewVersionFiles {
    pub owner_id: i64,
    pub creator_id: i64,
    pub ptype: PackageType,
    /// The package's name as first written, and the form look-ups compare.
    pub name: String,
    pub lower_name: String,
    pub version: String,
    /// Internal versions are kept but never listed.
    pub internal: bool,
    pub metadata_json: Option<String>,
    /// The lead file: its name, content digests and storage key (when not the SHA-256).
    pub lead_name: String,
    pub lead: Digests,
    pub lead_storage_key: Option<String>,
    /// Further files, each pointing at existing content: (file name, blob id).
    pub references: Vec<(String, i64)>,
    /// Properties of the version (those of another scope are not written).
    pub properties: Vec<NewProperty>,
    pub limits: UploadLimits,
}

/// What [`Database::put_version_files`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutVersion {
    pub version_id: i64,
    /// The lead's content was new to the database.
    pub blob_created: bool,
}

/// The package's id, if it exists.
fn package_id(
    c: &mut Conn<'_>,
    owner_id: i64,
    ptype: PackageType,
    lower_name: &str,
) -> TxResult<Option<i64>> {
    find_package_id(c, owner_id, ptype.as_str(), lower_name)
}

fn insert_file(
    c: &mut Conn<'_>,
    version_id: i64,
    blob_id: i64,
    name: &str,
    is_lead: bool,
    now: i64,
) -> TxResult<()> {
    run!(c, |c| diesel::insert_into(package_file::table)
        .values((
            package_file::version_id.eq(version_id),
            package_file::blob_id.eq(blob_id),
            package_file::name.eq(name),
            package_file::lower_name.eq(lower(name)),
            package_file::composite_key.eq(""),
            package_file::is_lead.eq(is_lead),
            package_file::created_unix.eq(now),
        ))
        .on_conflict((
            package_file::version_id,
            package_file::lower_name,
            package_file::composite_key,
        ))
        .do_nothing()
        .execute(c))?;
    Ok(())
}

/// Removes a version's files and properties, keeping the version row.
fn clear_version(c: &mut Conn<'_>, version_id: i64) -> TxResult<()> {
    let file_ids: Vec<i64> = run!(c, |c| package_file::table
        .filter(package_file::version_id.eq(version_id))
        .select(package_file::id)
        .load(c))?;
    if !file_ids.is_empty() {
        run!(c, |c| diesel::delete(
            package_property::table
                .filter(package_property::ref_type.eq(REF_FILE))
                .filter(package_property::ref_id.eq_any(&file_ids))
        )
        .execute(c))?;
    }
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
    Ok(())
}

fn put_version_tx(c: &mut Conn<'_>, v: &NewVersionFiles) -> TxResult<PutVersion> {
    let now = now_unix();
    let limits = v.limits;
    let checks_limits = !limits.exempt
        && (limits.total_owner_count != Limit::None || limits.total_owner_size != Limit::None);
    if checks_limits {
        lock_owner_for_limits(c, v.owner_id)?;
    }
    let package_id = match package_id(c, v.owner_id, v.ptype, &v.lower_name)? {
        Some(id) => id,
        None => {
            run!(c, |c| diesel::insert_into(package::table)
                .values((
                    package::owner_id.eq(v.owner_id),
                    package::repo_id.eq(0i64),
                    package::package_type.eq(v.ptype.as_str()),
                    package::name.eq(&v.name),
                    package::lower_name.eq(&v.lower_name),
                    package::semver_compatible.eq(false),
                    package::is_internal.eq(false),
                ))
                .on_conflict((
                    package::owner_id,
                    package::package_type,
                    package::lower_name
                ))
                .do_nothing()
                .execute(c))?;
            package_id(c, v.owner_id, v.ptype, &v.lower_name)?
                .ok_or_else(|| DbError::Other("package vanished during upload".into()))?
        }
    };
    let lower_version = lower(&v.version);
    let existing: Option<i64> = run!(c, |c| package_version::table
        .filter(package_version::package_id.eq(package_id))
        .filter(package_version::lower_version.eq(&lower_version))
        .select(package_version::id)
        .first(c)
        .optional())?;
    let version_id = match existing {
        Some(id) => {
            clear_version(c, id)?;
            run!(c, |c| diesel::update(package_version::table.find(id))
                .set((
                    package_version::version.eq(&v.version),
                    package_version::metadata_json.eq(&v.metadata_json),
                    package_version::is_internal.eq(v.internal),
                    package_version::creator_id.eq(v.creator_id),
                    package_version::created_unix.eq(now),
                ))
                .execute(c))?;
            id
        }
        None => run!(c, |c| diesel::insert_into(package_version::table)
            .values((
                package_version::package_id.eq(package_id),
                package_version::creator_id.eq(v.creator_id),
                package_version::version.eq(&v.version),
                package_version::lower_version.eq(&lower_version),
                package_version::created_unix.eq(now),
                package_version::is_internal.eq(v.internal),
                package_version::metadata_json.eq(&v.metadata_json),
                package_version::download_count.eq(0i64),
            ))
            .returning(package_version::id)
            .get_result(c))?,
    };
    let (lead_blob, blob_created) =
        get_or_create_blob(c, &v.lead, v.lead_storage_key.as_deref(), now)?;
    insert_file(c, version_id, lead_blob, &v.lead_name, true, now)?;
    for (name, blob_id) in &v.references {
        insert_file(c, version_id, *blob_id, name, false, now)?;
    }
    add_properties(c, &v.properties, PropertyOf::Version, version_id)?;
    if checks_limits && !v.internal {
        let count: i64 = run!(c, |c| package_version::table
            .inner_join(package::table)
            .filter(package::owner_id.eq(v.owner_id))
            .filter(package_version::is_internal.eq(false))
            .count()
            .get_result(c))?;
        if limits.total_owner_count.exceeded_by(count.max(0) as u64) {
            return Err(DbError::CountLimit.into());
        }
        let used = owner_size(c, v.owner_id)?.max(0) as u64;
        if limits.total_owner_size.exceeded_by(used) {
            return Err(DbError::SizeLimit.into());
        }
    }
    Ok(PutVersion {
        version_id,
        blob_created,
    })
}

impl Database {
    /// The id of the package, if it exists.
    pub fn package_id(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
    ) -> Result<Option<i64>, DbError> {
        self.read(|c| package_id(c, owner_id, ptype, lower_name))
    }

    /// The content with this SHA-256 when a file of any version of the package (internal
    /// ones included) has it.
    pub fn package_content(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
        sha256: &str,
    ) -> Result<Option<PackageBlob>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package_file::table
                .inner_join(package_version::table.inner_join(package::table))
                .inner_join(package_blob::table)
                .filter(package::owner_id.eq(owner_id))
                .filter(package::package_type.eq(ptype.as_str()))
                .filter(package::lower_name.eq(lower_name))
                .filter(package_blob::hash_sha256.eq(sha256))
                .select(PackageBlob::as_select())
                .first(c)
                .optional())?)
        })
    }

    /// The lead file of the package's version named `lower_version` (internal or not).
    pub fn version_lead(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
        lower_version: &str,
    ) -> Result<Option<LeadContent>, DbError> {
        self.read(|c| {
            let found: Option<(PackageVersion, PackageBlob)> = run!(c, |c| package_file::table
                .inner_join(package_version::table.inner_join(package::table))
                .inner_join(package_blob::table)
                .filter(package::owner_id.eq(owner_id))
                .filter(package::package_type.eq(ptype.as_str()))
                .filter(package::lower_name.eq(lower_name))
                .filter(package_version::lower_version.eq(lower_version))
                .filter(package_file::is_lead.eq(true))
                .select((PackageVersion::as_select(), PackageBlob::as_select()))
                .first(c)
                .optional())?;
            Ok(found.map(|(version, blob)| LeadContent { version, blob }))
        })
    }

    /// Every version of the package whose lead file has this SHA-256 (a manifest under each
    /// of its tags and its digest).
    pub fn versions_with_lead(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
        sha256: &str,
    ) -> Result<Vec<LeadContent>, DbError> {
        self.read(|c| {
            let found: Vec<(PackageVersion, PackageBlob)> = run!(c, |c| package_file::table
                .inner_join(package_version::table.inner_join(package::table))
                .inner_join(package_blob::table)
                .filter(package::owner_id.eq(owner_id))
                .filter(package::package_type.eq(ptype.as_str()))
                .filter(package::lower_name.eq(lower_name))
                .filter(package_blob::hash_sha256.eq(sha256))
                .filter(package_file::is_lead.eq(true))
                .order(package_version::id)
                .select((PackageVersion::as_select(), PackageBlob::as_select()))
                .load(c))?;
            Ok(found
                .into_iter()
                .map(|(version, blob)| LeadContent { version, blob })
                .collect())
        })
    }

    /// Writes a version in one transaction: creates the package and the version as needed,
    /// or empties an existing version of the same name (a tag moved), then adds the lead
    /// file and the references and the version's properties. A non-internal version is
    /// held to the owner's limits with everything it references counted.
    pub fn put_version_files(&self, v: &NewVersionFiles) -> Result<PutVersion, DbError> {
        self.write(&[Change::Files(v.owner_id)], |c| put_version_tx(c, v))
    }

    /// The names of the package's non-internal versions, in no particular order (callers
    /// sort them: the databases' collations differ).
    pub fn version_names(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
    ) -> Result<Vec<String>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package_version::table
                .inner_join(package::table)
                .filter(package::owner_id.eq(owner_id))
                .filter(package::package_type.eq(ptype.as_str()))
                .filter(package::lower_name.eq(lower_name))
                .filter(package_version::is_internal.eq(false))
                .select(package_version::version)
                .load::<String>(c))?)
        })
    }

    /// The versions of the package carrying the property `name` = `value`, with their lead
    /// files, oldest first.
    pub fn versions_with_property(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
        name: &str,
        value: &str,
    ) -> Result<Vec<LeadContent>, DbError> {
        self.read(|c| {
            let found: Vec<(PackageVersion, PackageBlob)> = run!(c, |c| package_property::table
                .inner_join(
                    package_version::table.on(package_version::id.eq(package_property::ref_id)),
                )
                .inner_join(package::table.on(package::id.eq(package_version::package_id)))
                .inner_join(
                    package_file::table.on(package_file::version_id
                        .eq(package_version::id)
                        .and(package_file::is_lead.eq(true))),
                )
                .inner_join(package_blob::table.on(package_blob::id.eq(package_file::blob_id)))
                .filter(package_property::ref_type.eq(REF_VERSION))
                .filter(package_property::name.eq(name))
                .filter(package_property::value.eq(value))
                .filter(package::owner_id.eq(owner_id))
                .filter(package::package_type.eq(ptype.as_str()))
                .filter(package::lower_name.eq(lower_name))
                .order(package_version::id)
                .select((PackageVersion::as_select(), PackageBlob::as_select()))
                .load(c))?;
            Ok(found
                .into_iter()
                .map(|(version, blob)| LeadContent { version, blob })
                .collect())
        })
    }

    /// Removes the non-lead files with this SHA-256 from every version of the package, and
    /// answers how many went. Versions whose lead file has it are left alone.
    pub fn remove_package_content(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
        sha256: &str,
    ) -> Result<usize, DbError> {
        self.write(&[Change::Files(owner_id)], |c| {
            let ids: Vec<i64> = run!(c, |c| package_file::table
                .inner_join(package_version::table.inner_join(package::table))
                .inner_join(package_blob::table)
                .filter(package::owner_id.eq(owner_id))
                .filter(package::package_type.eq(ptype.as_str()))
                .filter(package::lower_name.eq(lower_name))
                .filter(package_blob::hash_sha256.eq(sha256))
                .filter(package_file::is_lead.eq(false))
                .select(package_file::id)
                .load(c))?;
            if ids.is_empty() {
                return Ok(0);
            }
            run!(c, |c| diesel::delete(
                package_property::table
                    .filter(package_property::ref_type.eq(REF_FILE))
                    .filter(package_property::ref_id.eq_any(&ids))
            )
            .execute(c))?;
            let removed = run!(c, |c| diesel::delete(
                package_file::table.filter(package_file::id.eq_any(&ids))
            )
            .execute(c))?;
            Ok(removed)
        })
    }

    /// Deletes versions of the owner by id, with their files and properties.
    pub fn delete_versions_by_id(&self, owner_id: i64, ids: &[i64]) -> Result<usize, DbError> {
        self.write(&[Change::Files(owner_id)], |c| {
            for id in ids {
                crate::deletes::delete_version_rows(c, *id)?;
            }
            Ok(ids.len())
        })
    }

    /// Every package of this type with its owner's name, ordered by owner name then package
    /// name; internal packages are left out.
    pub fn packages_with_owners(
        &self,
        ptype: PackageType,
    ) -> Result<Vec<(String, Package)>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package::table
                .inner_join(users::table)
                .filter(package::package_type.eq(ptype.as_str()))
                .filter(package::is_internal.eq(false))
                .order((users::lower_name, package::lower_name))
                .select((users::name, Package::as_select()))
                .load(c))?)
        })
    }
}

impl Database {
    /// Housekeeping of a format with a staging version (`staging`, internal): removes its
    /// files created before `cutoff_unix` (content nothing else references then goes with
    /// the blob sweep), and every other internal version created before the cutoff whose
    /// lead content no other version of its package references and that refers to nothing
    /// (untagged manifests no index lists and that are no referrer). Answers how many files
    /// and versions went.
    pub fn remove_stale_internal(
        &self,
        ptype: PackageType,
        staging: &str,
        cutoff_unix: i64,
        subject_property: &str,
    ) -> Result<(usize, usize), DbError> {
        let staged: Vec<(i64, i64)> = self.read(|c| {
            Ok(run!(c, |c| package_file::table
                .inner_join(package_version::table.inner_join(package::table))
                .filter(package::package_type.eq(ptype.as_str()))
                .filter(package_version::lower_version.eq(lower(staging)))
                .filter(package_version::is_internal.eq(true))
                .filter(package_file::created_unix.lt(cutoff_unix))
                .select((package_file::id, package::owner_id))
                .limit(10_000)
                .load(c))?)
        })?;
        let mut files = 0;
        for (file_id, owner_id) in staged {
            files += self.write(&[Change::Files(owner_id)], |c| {
                Ok(run!(c, |c| diesel::delete(
                    package_file::table.find(file_id)
                )
                .execute(c))?)
            })?;
        }
        let candidates: Vec<(i64, i64, i64, i64)> = self.read(|c| {
            Ok(run!(c, |c| package_file::table
                .inner_join(package_version::table.inner_join(package::table))
                .filter(package::package_type.eq(ptype.as_str()))
                .filter(package_version::lower_version.ne(lower(staging)))
                .filter(package_version::is_internal.eq(true))
                .filter(package_version::created_unix.lt(cutoff_unix))
                .filter(package_file::is_lead.eq(true))
                .select((
                    package_version::id,
                    package_version::package_id,
                    package::owner_id,
                    package_file::blob_id,
                ))
                .limit(10_000)
                .load(c))?)
        })?;
        let mut versions = 0;
        for (version_id, package_id, owner_id, blob_id) in candidates {
            versions += self.write(&[Change::Files(owner_id)], |c| {
                let referenced: i64 = run!(c, |c| package_file::table
                    .inner_join(package_version::table)
                    .filter(package_version::package_id.eq(package_id))
                    .filter(package_version::id.ne(version_id))
                    .filter(package_file::blob_id.eq(blob_id))
                    .count()
                    .get_result(c))?;
                let refers: i64 = run!(c, |c| package_property::table
                    .filter(package_property::ref_type.eq(REF_VERSION))
                    .filter(package_property::ref_id.eq(version_id))
                    .filter(package_property::name.eq(subject_property))
                    .count()
                    .get_result(c))?;
                if referenced > 0 || refers > 0 {
                    return Ok(0);
                }
                crate::deletes::delete_version_rows(c, version_id)?;
                Ok(1)
            })?;
        }
        Ok((files, versions))
    }
}

//! Replacing the content of an existing file in one transaction, for conditional uploads.

use diesel::prelude::*;
use packages_core::{lower, Limit};

use crate::blobs::get_or_create_blob;
use crate::changes::Change;
use crate::error::{DbError, TxResult};
use crate::models::{AddedFile, NewUpload, PackageBlob, PackageFile};
use crate::packages::{find_version, lock_owner_for_limits, owner_size};
use crate::pool::{now_unix, Conn, Database};
use crate::schema::{package_blob, package_file};

/// The whole replace transaction: find the file, check its current content, check the size
/// limit with the new content in place of the old, point the file at the new blob.
fn replace_file_tx(
    c: &mut Conn<'_>,
    u: &NewUpload,
    lookup_name: &str,
    expected_sha256: Option<&[String]>,
) -> TxResult<AddedFile> {
    let now = now_unix();
    let version = find_version(c, u.owner_id, u.ptype, lookup_name, &lower(&u.version))?
        .ok_or(DbError::PreconditionFailed)?;
    let lower_file = lower(&u.file_name);
    let current: Option<(PackageFile, PackageBlob)> = run!(c, |c| package_file::table
        .inner_join(package_blob::table)
        .filter(package_file::version_id.eq(version.id))
        .filter(package_file::lower_name.eq(&lower_file))
        .filter(package_file::composite_key.eq(""))
        .select((PackageFile::as_select(), PackageBlob::as_select()))
        .first(c)
        .optional())?;
    let (file, old_blob) = current.ok_or(DbError::PreconditionFailed)?;
    if expected_sha256.is_some_and(|list| !list.contains(&old_blob.hash_sha256)) {
        return Err(DbError::PreconditionFailed.into());
    }
    let limits = u.limits;
    if !limits.exempt && limits.total_owner_size != Limit::None {
        // Replaces (and uploads) into one owner take turns, as uploads do: otherwise two
        // replaces of different files could each count the other's old size and together
        // pass the limit.
        lock_owner_for_limits(c, u.owner_id)?;
        let used = owner_size(c, u.owner_id)?.max(0) as u64;
        let after = used
            .saturating_sub(old_blob.size.max(0) as u64)
            .saturating_add(u.digests.size.max(0) as u64);
        if limits.total_owner_size.exceeded_by(after) {
            return Err(DbError::SizeLimit.into());
        }
    }
    let (blob_id, blob_created) = get_or_create_blob(c, &u.digests, u.storage_key.as_deref(), now)?;
    // Only if nobody replaced it since it was read: on PostgreSQL a concurrent replace that
    // committed first makes this match no row (SQLite runs writers one at a time).
    let updated = run!(c, |c| diesel::update(
        package_file::table
            .filter(package_file::id.eq(file.id))
            .filter(package_file::blob_id.eq(old_blob.id))
    )
    .set((
        package_file::blob_id.eq(blob_id),
        package_file::created_unix.eq(now),
    ))
    .execute(c))?;
    if updated != 1 {
        return Err(DbError::PreconditionFailed.into());
    }
    Ok(AddedFile {
        package_id: version.package_id,
        version_id: version.id,
        file_id: file.id,
        blob_id,
        blob_created,
        version_created: false,
    })
}

impl Database {
    /// Points an existing file at new content in one transaction, so a reader sees the old
    /// content or the new, never neither. The old blob stays for the sweep (and for readers
    /// that already opened it).
    ///
    /// Errors: [`DbError::PreconditionFailed`] when the file does not exist, or its content is
    /// none of `expected_sha256` (when given), or a concurrent replace won; [`DbError::SizeLimit`]
    /// when the new content takes the owner over the size limit.
    pub fn replace_file(
        &self,
        upload: &NewUpload,
        lookup_name: &str,
        expected_sha256: Option<&[String]>,
    ) -> Result<AddedFile, DbError> {
        // The file's cached look-up names the old content.
        self.write(&[Change::Files(upload.owner_id)], |c| {
            replace_file_tx(c, upload, lookup_name, expected_sha256)
        })
    }
}

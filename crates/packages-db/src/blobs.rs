//! Content blobs: deduplication by SHA-256 and the sweep of unreferenced ones.

use std::collections::HashSet;

use diesel::dsl::{exists, not};
use diesel::prelude::*;
use packages_core::Digests;

use crate::error::{DbError, TxResult};
use crate::models::PackageBlob;
use crate::pool::{Conn, Database, Retry};
use crate::schema::{package_blob, package_file};

fn blob_by_hash(c: &mut Conn<'_>, sha256: &str) -> TxResult<Option<PackageBlob>> {
    Ok(run!(c, |c| package_blob::table
        .filter(package_blob::hash_sha256.eq(sha256))
        .select(PackageBlob::as_select())
        .first(c)
        .optional())?)
}

/// Refuses to share a blob whose other digests differ: equal SHA-256 with different content
/// would be a collision, and serving the stored content would be wrong.
/// `one_statement_upload` states the same rule in SQL (its `blob` CTE matches every digest);
/// keep the two in step.
fn check_same_content(blob: &PackageBlob, d: &Digests) -> TxResult<()> {
    if blob.size != d.size
        || blob.hash_md5 != d.md5
        || blob.hash_sha1 != d.sha1
        || blob.hash_sha512 != d.sha512
    {
        return Err(DbError::Other(format!(
            "stored blob {} has the same SHA-256 but other digests",
            blob.hash_sha256
        ))
        .into());
    }
    Ok(())
}

/// Finds the blob with these digests or inserts it; the flag tells whether it is new.
pub(crate) fn get_or_create_blob(
    c: &mut Conn<'_>,
    d: &Digests,
    storage_key: Option<&str>,
    now: i64,
) -> TxResult<(i64, bool)> {
    // Insert first: most uploads bring new content; known content costs one more look-up.
    let inserted: Option<i64> = run!(c, |c| diesel::insert_into(package_blob::table)
        .values((
            package_blob::size.eq(d.size),
            package_blob::hash_md5.eq(&d.md5),
            package_blob::hash_sha1.eq(&d.sha1),
            package_blob::hash_sha256.eq(&d.sha256),
            package_blob::hash_sha512.eq(&d.sha512),
            package_blob::created_unix.eq(now),
            package_blob::storage_key.eq(storage_key),
        ))
        .on_conflict(package_blob::hash_sha256)
        .do_nothing()
        .returning(package_blob::id)
        .get_result(c)
        .optional())?;
    if let Some(id) = inserted {
        return Ok((id, true));
    }
    // Known content, possibly committed by a concurrent upload just now.
    let blob = blob_by_hash(c, &d.sha256)?
        .ok_or_else(|| DbError::Other("blob vanished during upload".into()))?;
    check_same_content(&blob, d)?;
    Ok((blob.id, false))
}

impl Database {
    /// Blobs no file references that were created before the given time, oldest id first,
    /// at most `limit`.
    pub fn unreferenced_blobs(
        &self,
        created_before_unix: i64,
        limit: i64,
    ) -> Result<Vec<PackageBlob>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package_blob::table
                .filter(package_blob::created_unix.lt(created_before_unix))
                .filter(not(exists(
                    package_file::table.filter(package_file::blob_id.eq(package_blob::id))
                )))
                .select(PackageBlob::as_select())
                .order(package_blob::id.asc())
                .limit(limit.max(0))
                .load(c))?)
        })
    }

    /// Deletes the blob row if no file references it; true when it was deleted, after which
    /// the caller removes the stored content. An upload that takes the blob concurrently
    /// wins: its file's foreign key makes the delete fail, which is `Ok(false)`.
    pub fn delete_blob_if_unreferenced(&self, blob_id: i64) -> Result<bool, DbError> {
        let result = self.write_raw(Retry::Conflicts, |c| {
            let n = run!(c, |c| diesel::delete(
                package_blob::table
                    .filter(package_blob::id.eq(blob_id))
                    .filter(not(exists(
                        package_file::table.filter(package_file::blob_id.eq(package_blob::id))
                    )))
            )
            .execute(c))?;
            Ok(n > 0)
        });
        match result {
            Err(e) if e.is_foreign_key_violation() => Ok(false),
            other => other.map_err(DbError::from),
        }
    }

    /// Which of `keys` (blob store keys) a blob row uses, in one query. A row without a
    /// storage key uses its SHA-256 as its key.
    pub fn blob_keys_in_use(&self, keys: &[String]) -> Result<HashSet<String>, DbError> {
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        self.read(|c| {
            let rows: Vec<(String, Option<String>)> = run!(c, |c| package_blob::table
                .filter(
                    package_blob::storage_key
                        .eq_any(keys)
                        .or(package_blob::storage_key
                            .is_null()
                            .and(package_blob::hash_sha256.eq_any(keys)))
                )
                .select((package_blob::hash_sha256, package_blob::storage_key))
                .load(c))?;
            Ok(rows
                .into_iter()
                .map(|(sha256, key)| key.unwrap_or(sha256))
                .collect())
        })
    }

    /// True when a blob row uses this blob store key.
    pub fn blob_key_in_use(&self, key: &str) -> Result<bool, DbError> {
        Ok(!self.blob_keys_in_use(&[key.to_owned()])?.is_empty())
    }

    /// Every blob as `(sha256, store key, size)`, by id; for backups.
    pub fn all_blobs(&self) -> Result<Vec<(String, String, i64)>, DbError> {
        self.read(|c| {
            let rows: Vec<(String, Option<String>, i64)> = run!(c, |c| package_blob::table
                .select((
                    package_blob::hash_sha256,
                    package_blob::storage_key,
                    package_blob::size,
                ))
                .order(package_blob::id.asc())
                .load(c))?;
            Ok(rows
                .into_iter()
                .map(|(sha256, key, size)| {
                    let key = key.unwrap_or_else(|| sha256.clone());
                    (sha256, key, size)
                })
                .collect())
        })
    }

    /// Up to `limit` blobs whose id is above `after_id`, by id: the blob table page by page.
    pub fn blobs_after(&self, after_id: i64, limit: i64) -> Result<Vec<PackageBlob>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package_blob::table
                .filter(package_blob::id.gt(after_id))
                .select(PackageBlob::as_select())
                .order(package_blob::id.asc())
                .limit(limit.max(0))
                .load(c))?)
        })
    }

    /// Records the blob store key of a blob's content (after the content was copied to a
    /// store where it lives under that key); false when the row is gone. Cached file
    /// look-ups are not told: the only key recorded this way is the SHA-256, which a row
    /// without a key already stands for.
    pub fn set_blob_storage_key(&self, blob_id: i64, key: &str) -> Result<bool, DbError> {
        self.write(&[], |c| {
            let n = run!(c, |c| diesel::update(
                package_blob::table.filter(package_blob::id.eq(blob_id))
            )
            .set(package_blob::storage_key.eq(key))
            .execute(c))?;
            Ok(n > 0)
        })
    }

    /// Writes a consistent copy of an SQLite database to `path` (`VACUUM INTO`) while
    /// others keep reading and writing. Not for PostgreSQL, which `pg_dump` copies.
    pub fn vacuum_into(&self, path: &std::path::Path) -> Result<(), DbError> {
        let target = path
            .to_str()
            .ok_or_else(|| DbError::Other("backup path is not UTF-8".into()))?
            .replace('\'', "''");
        self.read(|c| match c {
            crate::pool::Conn::Lite(lite) => {
                diesel::connection::SimpleConnection::batch_execute(
                    *lite,
                    &format!("VACUUM INTO '{target}'"),
                )?;
                Ok(())
            }
            crate::pool::Conn::Pg(_) => {
                Err(DbError::Other("VACUUM INTO is for SQLite; use pg_dump".into()).into())
            }
        })
    }

    /// The blob with this SHA-256 (lowercase hex).
    pub fn blob_by_sha256(&self, sha256: &str) -> Result<Option<PackageBlob>, DbError> {
        self.read(|c| blob_by_hash(c, sha256))
    }
}

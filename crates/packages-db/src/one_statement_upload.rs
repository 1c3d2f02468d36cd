//! The common upload on PostgreSQL in one statement: a file added to a package that exists,
//! in a new or existing version, with new or known content.
//!
//! [`crate::packages`]' transaction takes six round trips (`BEGIN`, look up the package,
//! insert the version, the blob and the file, `COMMIT`), and on a small upload the server
//! and PostgreSQL spend most of their time switching between them. This statement does the
//! same inserts with data-modifying CTEs and runs outside a transaction: PostgreSQL makes a
//! single statement atomic on its own, so the upload is one round trip.
//!
//! It must therefore either do the whole upload or change nothing:
//! - a package that does not exist, or a file that does (seen in the statement's snapshot):
//!   every insert is skipped and no row comes back;
//! - anything the snapshot cannot see (a version, blob or file committed by a concurrent
//!   writer meanwhile) or content that differs from a stored blob of the same SHA-256:
//!   the file insert fails on its own constraints (a missing version or blob is a `NULL`
//!   in a `NOT NULL` column, a file inserted meanwhile a unique violation), and the error
//!   undoes the statement's other inserts.
//!
//! In both cases the general transaction then runs and decides. Uploads with properties or
//! owner limits always take the general path: those need the owner lock and more
//! statements anyway.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Untyped};
use diesel::PgConnection;

use crate::error::TxResult;
use crate::models::{AddedFile, FileDetails, NewUpload};

/// Whether the upload is one [`add_file`] may do: nothing to lock or count, nothing to
/// add but the rows themselves.
pub(crate) fn applies(u: &NewUpload, details: &FileDetails) -> bool {
    let limited = !u.limits.exempt
        && (u.limits.total_owner_count != packages_core::Limit::None
            || u.limits.total_owner_size != packages_core::Limit::None);
    !limited && details.properties.is_empty()
}

/// The statement, with its parameters in the order they appear. Every branch sees the
/// statement's one snapshot, so rows a `new_*` CTE inserts are not visible to the look-up
/// beside it: at most one of the two yields a row.
struct Statement<'a> {
    u: &'a NewUpload,
    details: &'a FileDetails,
    lower_version: String,
    lower_file: String,
    now: i64,
}

/// A fixed query id: diesel then keeps the statement prepared on each connection, where
/// `sql_query` would have PostgreSQL parse and plan it on every upload.
struct StatementId;

impl QueryId for Statement<'_> {
    type QueryId = StatementId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for Statement<'_> {
    type SqlType = Untyped;
}

impl RunQueryDsl<PgConnection> for Statement<'_> {}

impl QueryFragment<Pg> for Statement<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let (u, d) = (self.u, self.details);
        out.push_sql("WITH pkg AS (SELECT id FROM package WHERE owner_id = ");
        out.push_bind_param::<BigInt, _>(&u.owner_id)?;
        out.push_sql(" AND type = ");
        out.push_bind_param::<Text, _>(u.ptype.as_str())?;
        out.push_sql(" AND lower_name = ");
        out.push_bind_param::<Text, _>(&d.lower_name)?;
        out.push_sql(
            "), found_version AS (SELECT v.id FROM package_version v JOIN pkg \
             ON v.package_id = pkg.id WHERE v.lower_version = ",
        );
        out.push_bind_param::<Text, _>(&self.lower_version)?;
        out.push_sql(
            "), file_exists AS (SELECT 1 FROM package_file f JOIN found_version v \
             ON f.version_id = v.id WHERE f.lower_name = ",
        );
        out.push_bind_param::<Text, _>(&self.lower_file)?;
        out.push_sql(" AND f.composite_key = ");
        out.push_bind_param::<Text, _>(&d.composite_key)?;
        // A version is only new when no file of it can exist yet.
        out.push_sql(
            "), new_version AS (INSERT INTO package_version (package_id, creator_id, version, \
             lower_version, created_unix, is_internal, metadata_json, download_count) SELECT id, ",
        );
        out.push_bind_param::<BigInt, _>(&u.creator_id)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&u.version)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.lower_version)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&d.internal_version)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&d.version_metadata)?;
        out.push_sql(
            ", 0 FROM pkg ON CONFLICT (package_id, lower_version) DO NOTHING RETURNING id), \
             version AS (SELECT id, TRUE AS created FROM new_version \
             UNION ALL SELECT id, FALSE FROM found_version), \
             new_blob AS (INSERT INTO package_blob (size, hash_md5, hash_sha1, hash_sha256, \
             hash_sha512, created_unix, storage_key) SELECT ",
        );
        let digests = [
            &u.digests.md5,
            &u.digests.sha1,
            &u.digests.sha256,
            &u.digests.sha512,
        ];
        out.push_bind_param::<BigInt, _>(&u.digests.size)?;
        for digest in digests {
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(digest)?;
        }
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(", ");
        out.push_bind_param::<Nullable<Text>, _>(&u.storage_key)?;
        // Known content must be the same content: a blob whose other digests differ is no
        // match, and the general path reports it. The look-up runs only when the insert
        // added nothing (a one-time filter): a plan cached while the table was tiny scans
        // it whole, and new content, the usual case, then skips that scan.
        out.push_sql(
            " FROM pkg WHERE NOT EXISTS (SELECT 1 FROM file_exists) \
             ON CONFLICT (hash_sha256) DO NOTHING RETURNING id), \
             blob AS (SELECT id, TRUE AS created FROM new_blob UNION ALL \
             SELECT id, FALSE FROM package_blob WHERE NOT EXISTS (SELECT 1 FROM new_blob) \
             AND size = ",
        );
        out.push_bind_param::<BigInt, _>(&u.digests.size)?;
        for (column, digest) in ["hash_md5", "hash_sha1", "hash_sha256", "hash_sha512"]
            .into_iter()
            .zip(digests)
        {
            out.push_sql(" AND ");
            out.push_sql(column);
            out.push_sql(" = ");
            out.push_bind_param::<Text, _>(digest)?;
        }
        // The version and blob as scalar subqueries: when either is missing the insert
        // fails (NOT NULL) instead of quietly adding nothing, and no ON CONFLICT: a file
        // committed after the snapshot fails it too. Either failure undoes the statement.
        out.push_sql(
            "), file AS (INSERT INTO package_file (version_id, blob_id, name, lower_name, \
             composite_key, is_lead, created_unix) SELECT (SELECT id FROM version), \
             (SELECT id FROM blob), ",
        );
        out.push_bind_param::<Text, _>(&u.file_name)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&self.lower_file)?;
        out.push_sql(", ");
        out.push_bind_param::<Text, _>(&d.composite_key)?;
        out.push_sql(", ");
        out.push_bind_param::<Bool, _>(&d.is_lead)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(
            " FROM pkg WHERE NOT EXISTS (SELECT 1 FROM file_exists) \
             RETURNING id, version_id, blob_id) \
             SELECT pkg.id AS package_id, file.version_id, file.id AS file_id, file.blob_id, \
             version.created AS version_created, blob.created AS blob_created \
             FROM pkg, file, version, blob",
        );
        Ok(())
    }
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    package_id: i64,
    #[diesel(sql_type = BigInt)]
    version_id: i64,
    #[diesel(sql_type = BigInt)]
    file_id: i64,
    #[diesel(sql_type = BigInt)]
    blob_id: i64,
    #[diesel(sql_type = Bool)]
    version_created: bool,
    #[diesel(sql_type = Bool)]
    blob_created: bool,
}

/// Runs the statement, which must not be inside a transaction (its failure has to undo it
/// alone). `Ok(None)`: it changed nothing and the general transaction must decide.
pub(crate) fn add_file(
    c: &mut PgConnection,
    u: &NewUpload,
    details: &FileDetails,
    now: i64,
) -> TxResult<Option<AddedFile>> {
    let statement = Statement {
        u,
        details,
        lower_version: packages_core::lower(&u.version),
        lower_file: packages_core::lower(&u.file_name),
        now,
    };
    match statement.get_result::<Row>(c).optional() {
        Ok(row) => Ok(row.map(|r| AddedFile {
            package_id: r.package_id,
            version_id: r.version_id,
            file_id: r.file_id,
            blob_id: r.blob_id,
            blob_created: r.blob_created,
            version_created: r.version_created,
        })),
        // The statement declined by failing (see the module's comment): it left nothing.
        Err(DieselError::DatabaseError(
            DatabaseErrorKind::NotNullViolation
            | DatabaseErrorKind::UniqueViolation
            | DatabaseErrorKind::ForeignKeyViolation,
            _,
        )) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

//! Helpers for tests and benchmarks: throw-away PostgreSQL databases and bulk seeding.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::dsl::{exists, not};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use packages_core::{lower, Digests, PackageType};

use crate::blobs::get_or_create_blob;
use crate::error::DbError;
use crate::pool::{now_unix, Database};
use crate::schema::{package, package_file, package_version};

/// Versions per package, and rows per insert statement, when seeding.
pub const SEED_BATCH: u64 = 1000;

/// The file name every seeded version holds.
pub const SEED_FILE_NAME: &str = "file.bin";

/// Quotes an SQL identifier for PostgreSQL.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The URL of database `name` on the server `server_url` points at: the path is replaced,
/// user, host, port and query parameters stay.
pub fn database_url(server_url: &str, name: &str) -> String {
    let (base, query) = match server_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server_url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

fn connect_server(server_url: &str) -> Result<PgConnection, DbError> {
    PgConnection::establish(server_url).map_err(|e| {
        log::warn!("cannot connect to {server_url}: {e}");
        DbError::Unavailable
    })
}

/// Creates the empty database `name` on the PostgreSQL server that `server_url` reaches (any
/// existing database there, such as `postgres`) and returns the new database's URL.
pub fn create_postgres_database(server_url: &str, name: &str) -> Result<String, DbError> {
    let mut conn = connect_server(server_url)?;
    diesel::sql_query(format!("CREATE DATABASE {}", quote_ident(name)))
        .execute(&mut conn)
        .map_err(DbError::from_diesel)?;
    Ok(database_url(server_url, name))
}

/// Creates a database with a name unique to this process and moment, starting with
/// `prefix`, and returns its URL and name (for [`drop_postgres_database`]).
pub fn create_unique_postgres_database(
    server_url: &str,
    prefix: &str,
) -> Result<(String, String), DbError> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let url = create_postgres_database(server_url, &name)?;
    Ok((url, name))
}

/// Drops the database `name`, closing its open connections; a missing database is fine.
pub fn drop_postgres_database(server_url: &str, name: &str) -> Result<(), DbError> {
    let mut conn = connect_server(server_url)?;
    diesel::sql_query(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(name)
    ))
    .execute(&mut conn)
    .map_err(DbError::from_diesel)?;
    Ok(())
}

impl Database {
    /// Inserts `count` versions quickly, each with one file `file.bin` of the given content,
    /// in multi-row inserts of [`SEED_BATCH`] rows, one transaction per batch.
    ///
    /// Version `i` (0-based) is `1.0.<i % 1000>` of the package `<name_prefix><i / 1000>`,
    /// so every package holds up to 1000 versions. The packages must not have these versions
    /// yet. Returns the number of versions inserted.
    pub fn seed_versions(
        &self,
        owner_id: i64,
        ptype: PackageType,
        name_prefix: &str,
        count: u64,
        blob: &Digests,
    ) -> Result<u64, DbError> {
        let now = now_unix();
        let blob_id = self.write(|c| Ok(get_or_create_blob(c, blob, now)?.0))?;
        let mut done = 0u64;
        while done < count {
            let package_index = done / SEED_BATCH;
            let in_batch = (count - done).min(SEED_BATCH);
            let name = format!("{name_prefix}{package_index}");
            let lower_name = lower(&name);
            let versions: Vec<String> = (0..in_batch).map(|j| format!("1.0.{j}")).collect();
            self.write(|c| {
                run!(c, |c| diesel::insert_into(package::table)
                    .values((
                        package::owner_id.eq(owner_id),
                        package::repo_id.eq(0i64),
                        package::package_type.eq(ptype.as_str()),
                        package::name.eq(&name),
                        package::lower_name.eq(&lower_name),
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
                let package_id: i64 = run!(c, |c| package::table
                    .filter(package::owner_id.eq(owner_id))
                    .filter(package::package_type.eq(ptype.as_str()))
                    .filter(package::lower_name.eq(&lower_name))
                    .select(package::id)
                    .first(c))?;
                let rows: Vec<_> = versions
                    .iter()
                    .map(|v| {
                        (
                            package_version::package_id.eq(package_id),
                            package_version::creator_id.eq(owner_id),
                            package_version::version.eq(v.as_str()),
                            package_version::lower_version.eq(v.as_str()),
                            package_version::created_unix.eq(now),
                            package_version::is_internal.eq(false),
                            package_version::metadata_json.eq("null"),
                            package_version::download_count.eq(0i64),
                        )
                    })
                    .collect();
                run!(c, |c| diesel::insert_into(package_version::table)
                    .values(&rows)
                    .execute(c))?;
                // One file per version that has none yet: the versions just inserted.
                let files = package_version::table
                    .filter(package_version::package_id.eq(package_id))
                    .filter(not(exists(
                        package_file::table
                            .filter(package_file::version_id.eq(package_version::id)),
                    )))
                    .select((
                        package_version::id,
                        blob_id.into_sql::<BigInt>(),
                        SEED_FILE_NAME.into_sql::<Text>(),
                        SEED_FILE_NAME.into_sql::<Text>(),
                        "".into_sql::<Text>(),
                        true.into_sql::<Bool>(),
                        package_version::created_unix,
                    ));
                run!(c, |c| diesel::insert_into(package_file::table)
                    .values(files)
                    .into_columns((
                        package_file::version_id,
                        package_file::blob_id,
                        package_file::name,
                        package_file::lower_name,
                        package_file::composite_key,
                        package_file::is_lead,
                        package_file::created_unix,
                    ))
                    .execute(c))?;
                Ok(())
            })?;
            done += in_batch;
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn database_url_replaces_the_path() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u:p@h/postgres?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(database_url("postgresql://h:1", "x"), "postgresql://h:1/x");
    }
}

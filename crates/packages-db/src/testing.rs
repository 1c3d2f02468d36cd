//! Helpers for tests and benchmarks: throw-away PostgreSQL databases and bulk seeding.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use packages_core::{lower, Digests, MultiHasher, PackageType};

use crate::error::{DbError, TxResult};
use crate::pool::{now_unix, Conn, Database};
use crate::schema::{package, package_blob, package_file, package_version};

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
    /// Makes an owner private behind every cache's back: no change is announced, as when
    /// someone edits the database by hand. Tests use it to show that reads are cached.
    pub fn make_private_unannounced(&self, owner_id: i64) -> Result<(), DbError> {
        self.write_additive(|c| {
            run!(c, |c| diesel::update(
                crate::schema::users::table.find(owner_id)
            )
            .set(crate::schema::users::visibility.eq(packages_core::Visibility::Private.as_i16()))
            .execute(c))?;
            Ok(())
        })
    }

    /// Sets when a version was created, as if it had been uploaded then (retention tests).
    /// False when there is no such version.
    pub fn set_version_created(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
        lower_version: &str,
        created_unix: i64,
    ) -> Result<bool, DbError> {
        self.write_additive(|c| {
            let Some(v) =
                crate::packages::find_version(c, owner_id, ptype, lower_name, lower_version)?
            else {
                return Ok(false);
            };
            run!(c, |c| diesel::update(package_version::table.find(v.id))
                .set(package_version::created_unix.eq(created_unix))
                .execute(c))?;
            Ok(true)
        })
    }

    /// Ends the connections of every change feed on this PostgreSQL database (as a network
    /// failure or a server restart would); returns how many were ended.
    pub fn end_change_feed_connections(&self) -> Result<u64, DbError> {
        self.feed_connections("pg_terminate_backend(pid)")
    }

    /// How many change feeds are connected to this PostgreSQL database.
    pub fn change_feed_connections(&self) -> Result<u64, DbError> {
        self.feed_connections("pid")
    }

    /// Runs `SELECT <expr>` over the feed connections' rows of `pg_stat_activity`.
    fn feed_connections(&self, expr: &str) -> Result<u64, DbError> {
        self.read(|c| {
            let rows = run!(c, |c| diesel::sql_query(format!(
                "SELECT {expr} FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = '{}'",
                crate::feed::APPLICATION_NAME
            ))
            .execute(c))?;
            Ok(rows as u64)
        })
    }
}

/// Packages seeded per transaction: big transactions load faster, small ones keep locks short.
const SEED_PACKAGES_PER_TX: u64 = 10;

/// The seeded package's id, creating it if needed.
fn seed_package(c: &mut Conn<'_>, owner_id: i64, ptype: PackageType, name: &str) -> TxResult<i64> {
    let lower_name = lower(name);
    run!(c, |c| diesel::insert_into(package::table)
        .values((
            package::owner_id.eq(owner_id),
            package::repo_id.eq(0i64),
            package::package_type.eq(ptype.as_str()),
            package::name.eq(name),
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
    Ok(run!(c, |c| package::table
        .filter(package::owner_id.eq(owner_id))
        .filter(package::package_type.eq(ptype.as_str()))
        .filter(package::lower_name.eq(&lower_name))
        .select(package::id)
        .first(c))?)
}

/// The content of seeded version `version` of package `package`: a few bytes of its own, so
/// that each seeded file has its own blob row, as files uploaded with distinct content have.
/// A table of blobs that stays tiny while the versions grow would mislead the query planner
/// (a plan chosen for two blob rows scans the table whole once it holds thousands). The
/// store does not hold this content: nothing reads a seeded file's bytes.
pub fn seed_content(package: &str, version: &str) -> Vec<u8> {
    format!("{package}/{version}").into_bytes()
}

/// The digests of the seeded files `1.0.0` to `1.0.<n-1>` of `package`.
fn seed_digests(package: &str, n: u64) -> Vec<Digests> {
    (0..n)
        .map(|j| {
            let mut h = MultiHasher::new();
            h.update(&seed_content(package, &format!("1.0.{j}")));
            h.finalize()
        })
        .collect()
}

/// Inserts versions `1.0.0` to `1.0.<n-1>` of the package, one file each with its own blob.
/// PostgreSQL takes the rows as arrays (binding thousands of parameters costs more there
/// than the inserts); SQLite takes multi-row inserts.
fn seed_package_versions(
    c: &mut Conn<'_>,
    package: (i64, &str),
    creator_id: i64,
    n: u64,
    now: i64,
) -> TxResult<()> {
    let (package_id, package_name) = package;
    let blobs = seed_digests(package_name, n);
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    match c {
        Conn::Pg(pg) => {
            let column = |f: fn(&Digests) -> &String| -> Vec<&str> {
                blobs.iter().map(|d| f(d).as_str()).collect()
            };
            let sizes: Vec<i64> = blobs.iter().map(|d| d.size).collect();
            diesel::sql_query(
                "WITH v AS ( \
                   INSERT INTO package_version (package_id, creator_id, version, lower_version, \
                     created_unix, is_internal, metadata_json, download_count) \
                   SELECT $1, $2, '1.0.' || g, '1.0.' || g, $3, FALSE, 'null', 0 \
                   FROM generate_series(0, $4 - 1) AS g \
                   RETURNING id, lower_version, created_unix), \
                 d AS (SELECT '1.0.' || (o - 1) AS lower_version, size, md5, sha1, sha256, sha512 \
                   FROM unnest($6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[]) \
                   WITH ORDINALITY AS d(size, md5, sha1, sha256, sha512, o)), \
                 b AS ( \
                   INSERT INTO package_blob (size, hash_md5, hash_sha1, hash_sha256, \
                     hash_sha512, created_unix) \
                   SELECT size, md5, sha1, sha256, sha512, $3 FROM d \
                   RETURNING id, hash_sha256) \
                 INSERT INTO package_file (version_id, blob_id, name, lower_name, composite_key, \
                   is_lead, created_unix) \
                 SELECT v.id, b.id, $5, $5, '', TRUE, v.created_unix \
                 FROM v JOIN d USING (lower_version) JOIN b ON b.hash_sha256 = d.sha256",
            )
            .bind::<BigInt, _>(package_id)
            .bind::<BigInt, _>(creator_id)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(n)
            .bind::<Text, _>(SEED_FILE_NAME)
            .bind::<Array<BigInt>, _>(&sizes)
            .bind::<Array<Text>, _>(column(|d| &d.md5))
            .bind::<Array<Text>, _>(column(|d| &d.sha1))
            .bind::<Array<Text>, _>(column(|d| &d.sha256))
            .bind::<Array<Text>, _>(column(|d| &d.sha512))
            .execute(&mut **pg)?;
        }
        Conn::Lite(lite) => {
            let lite: &mut SqliteConnection = lite;
            let versions: Vec<String> = (0..n).map(|j| format!("1.0.{j}")).collect();
            let rows: Vec<_> = versions
                .iter()
                .map(|v| {
                    (
                        package_version::package_id.eq(package_id),
                        package_version::creator_id.eq(creator_id),
                        package_version::version.eq(v.as_str()),
                        package_version::lower_version.eq(v.as_str()),
                        package_version::created_unix.eq(now),
                        package_version::is_internal.eq(false),
                        package_version::metadata_json.eq("null"),
                        package_version::download_count.eq(0i64),
                    )
                })
                .collect();
            // RETURNING rows come in no promised order: each is matched by its key.
            let versions: Vec<(i64, String, i64)> = diesel::insert_into(package_version::table)
                .values(&rows)
                .returning((
                    package_version::id,
                    package_version::lower_version,
                    package_version::created_unix,
                ))
                .get_results(lite)?;
            let blob_rows: Vec<_> = blobs
                .iter()
                .map(|d| {
                    (
                        package_blob::size.eq(d.size),
                        package_blob::hash_md5.eq(d.md5.as_str()),
                        package_blob::hash_sha1.eq(d.sha1.as_str()),
                        package_blob::hash_sha256.eq(d.sha256.as_str()),
                        package_blob::hash_sha512.eq(d.sha512.as_str()),
                        package_blob::created_unix.eq(now),
                    )
                })
                .collect();
            let blob_ids: HashMap<String, i64> = diesel::insert_into(package_blob::table)
                .values(&blob_rows)
                .returning((package_blob::hash_sha256, package_blob::id))
                .get_results(lite)?
                .into_iter()
                .collect();
            let blob_of = |version: &str| {
                let j: usize = version.strip_prefix("1.0.")?.parse().ok()?;
                blob_ids.get(&blobs.get(j)?.sha256).copied()
            };
            let files = versions
                .iter()
                .map(|(version_id, version, created)| {
                    let blob_id = blob_of(version).ok_or(diesel::result::Error::NotFound)?;
                    Ok((
                        package_file::version_id.eq(*version_id),
                        package_file::blob_id.eq(blob_id),
                        package_file::name.eq(SEED_FILE_NAME),
                        package_file::lower_name.eq(SEED_FILE_NAME),
                        package_file::composite_key.eq(""),
                        package_file::is_lead.eq(true),
                        package_file::created_unix.eq(*created),
                    ))
                })
                .collect::<Result<Vec<_>, diesel::result::Error>>()?;
            diesel::insert_into(package_file::table)
                .values(&files)
                .execute(lite)?;
        }
    }
    Ok(())
}

impl Database {
    /// Inserts `count` versions quickly, each with one file `file.bin` of its own content
    /// ([`seed_content`], not in the store), created by the owner, all at the current second,
    /// in bulk inserts of [`SEED_BATCH`] rows and a few such batches per transaction.
    ///
    /// Version `i` (0-based) is `1.0.<i % 1000>` of the package `<name_prefix><i / 1000>`,
    /// so every package holds up to 1000 versions. The packages must not have these versions
    /// yet. Refreshes the planner statistics at the end. Returns the number of versions
    /// inserted.
    pub fn seed_versions(
        &self,
        owner_id: i64,
        ptype: PackageType,
        name_prefix: &str,
        count: u64,
    ) -> Result<u64, DbError> {
        let now = now_unix();
        let mut done = 0u64;
        while done < count {
            let tx_end = count.min(done + SEED_BATCH * SEED_PACKAGES_PER_TX);
            self.write_additive(|c| {
                if let Conn::Pg(pg) = c {
                    // Seeded rows are test data: not waiting for each commit's flush to disk
                    // speeds bulk loading up.
                    pg.batch_execute("SET LOCAL synchronous_commit TO OFF")?;
                }
                let mut at = done;
                while at < tx_end {
                    let n = (tx_end - at).min(SEED_BATCH);
                    let name = format!("{name_prefix}{}", at / SEED_BATCH);
                    let package_id = seed_package(c, owner_id, ptype, &name)?;
                    seed_package_versions(c, (package_id, &name), owner_id, n, now)?;
                    at += n;
                }
                Ok(())
            })?;
            done = tx_end;
        }
        // Fresh statistics, so that the planner knows the tables just grew.
        self.read(|c| {
            run!(c, |c| c.batch_execute("ANALYZE"))?;
            Ok(())
        })?;
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

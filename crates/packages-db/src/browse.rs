//! Queries of the web interface: packages across owners with their newest version, the owners
//! that publish anything, and what each package of an owner takes.

use std::collections::HashMap;

use diesel::dsl::{count, max, sql};
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use packages_core::lower;

use crate::error::DbError;
use crate::models::{
    Package, PackageUsage, PackageVersion, Page, User, UserRow, VersionFilter, VersionListing,
};
use crate::pool::Database;
use crate::schema::{package, package_blob, package_file, package_version, users};

/// Which packages a search looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageSearch {
    /// Only these owners' packages.
    pub owner_ids: Vec<i64>,
    pub filter: VersionFilter,
    /// Packages of these owners match whatever their name (the text named the owner).
    pub owner_matches: Vec<i64>,
}

macro_rules! versions_with_packages {
    () => {
        package_version::table.inner_join(package::table)
    };
}

/// Non-internal versions joined with their packages, restricted as `search` says.
macro_rules! search_query {
    ($source:expr, $search:expr) => {{
        let search: &PackageSearch = $search;
        let mut q = $source
            .filter(package_version::is_internal.eq(false))
            .filter(package::owner_id.eq_any(search.owner_ids.clone()))
            .into_boxed();
        if let Some(t) = &search.filter.package_type {
            q = q.filter(package::package_type.eq(t.clone()));
        }
        if let Some(text) = &search.filter.query {
            let pattern = format!("%{}%", lower(text));
            q = q.filter(
                package::lower_name
                    .like(pattern)
                    .or(package::owner_id.eq_any(search.owner_matches.clone())),
            );
        }
        q
    }};
}

impl Database {
    /// Every user or organisation with at least one non-internal version, by name.
    pub fn package_owners(&self) -> Result<Vec<User>, DbError> {
        self.read(|c| {
            let with_packages = package::table
                .inner_join(package_version::table)
                .filter(package_version::is_internal.eq(false))
                .select(package::owner_id);
            let rows: Vec<UserRow> = run!(c, |c| users::table
                .filter(users::id.eq_any(with_packages))
                .select(UserRow::as_select())
                .order(users::lower_name.asc())
                .load(c))?;
            Ok(rows.into_iter().map(User::from).collect())
        })
    }

    /// One page of packages with their newest version (highest id), the most recently
    /// published first, and the number of matching packages.
    pub fn search_packages(
        &self,
        search: &PackageSearch,
        page: Page,
    ) -> Result<(Vec<VersionListing>, u64), DbError> {
        let offset = (page.page.max(1) - 1).saturating_mul(page.limit);
        self.search_packages_from(search, offset, page.limit)
    }

    /// [`Database::search_packages`] from the `offset`-th package on (npm's `from`).
    pub fn search_packages_from(
        &self,
        search: &PackageSearch,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<VersionListing>, u64), DbError> {
        if search.owner_ids.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        self.read(|c| {
            let total: i64 = run!(c, |c| search_query!(versions_with_packages!(), search)
                .select(count(package::id).aggregate_distinct())
                .get_result(c))?;
            let newest: Vec<Option<i64>> = run!(c, |c| search_query!(
                versions_with_packages!()
                    .group_by(package::id)
                    .select(max(package_version::id)),
                search
            )
            .order(max(package_version::id).desc())
            .limit(limit)
            .offset(offset)
            .load(c))?;
            let ids: Vec<i64> = newest.into_iter().flatten().collect();
            let rows: Vec<(Package, PackageVersion, Option<UserRow>)> =
                run!(c, |c| package_version::table
                    .inner_join(package::table)
                    .left_join(users::table.on(users::id.eq(package_version::creator_id)))
                    .filter(package_version::id.eq_any(&ids))
                    .select((
                        Package::as_select(),
                        PackageVersion::as_select(),
                        Option::<UserRow>::as_select(),
                    ))
                    .load(c))?;
            let mut by_id: HashMap<i64, VersionListing> = rows
                .into_iter()
                .map(|(package, version, creator)| {
                    (
                        version.id,
                        VersionListing {
                            package,
                            version,
                            creator: creator.map(User::from),
                        },
                    )
                })
                .collect();
            let listings = ids.iter().filter_map(|id| by_id.remove(id)).collect();
            Ok((listings, total.max(0) as u64))
        })
    }

    /// What each of the owner's packages takes, largest first; a shared blob counts once
    /// per file, as the owner's quota counts it.
    pub fn package_usage(&self, owner_id: i64) -> Result<Vec<PackageUsage>, DbError> {
        self.read(|c| {
            // SUM over BIGINT is NUMERIC on PostgreSQL; the cast gives both backends one type.
            let sums: Vec<(i64, i64, i64)> = run!(c, |c| package_file::table
                .inner_join(package_version::table.inner_join(package::table))
                .inner_join(package_blob::table)
                .filter(package::owner_id.eq(owner_id))
                .filter(package_version::is_internal.eq(false))
                .group_by(package::id)
                .select((
                    package::id,
                    sql::<BigInt>("CAST(COALESCE(SUM(package_blob.size), 0) AS BIGINT)"),
                    count(package_version::id).aggregate_distinct(),
                ))
                .load(c))?;
            let ids: Vec<i64> = sums.iter().map(|s| s.0).collect();
            let packages: Vec<Package> = run!(c, |c| package::table
                .filter(package::id.eq_any(&ids))
                .select(Package::as_select())
                .load(c))?;
            let mut by_id: HashMap<i64, Package> =
                packages.into_iter().map(|p| (p.id, p)).collect();
            let mut usage: Vec<PackageUsage> = sums
                .into_iter()
                .filter_map(|(id, bytes, versions)| {
                    Some(PackageUsage {
                        package: by_id.remove(&id)?,
                        versions: versions.max(0) as u64,
                        bytes: bytes.max(0) as u64,
                    })
                })
                .collect();
            usage.sort_by(|a, b| {
                b.bytes
                    .cmp(&a.bytes)
                    .then_with(|| a.package.lower_name.cmp(&b.package.lower_name))
            });
            Ok(usage)
        })
    }
}

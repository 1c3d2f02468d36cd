//! Listings of versions for the general API: pages, details, latest versions and files.

use diesel::prelude::*;
use packages_core::{lower, PackageType};

use crate::error::DbError;
use crate::models::{
    Package, PackageBlob, PackageFile, PackageVersion, Page, User, UserRow, VersionFilter,
    VersionListing,
};
use crate::pool::Database;
use crate::schema::{package, package_blob, package_file, package_version, users};

/// The owner's non-internal versions with the filters applied, as a boxed query over
/// `$source` (versions joined with packages, and possibly more).
macro_rules! listing_query {
    ($source:expr, $owner_id:expr, $filter:expr) => {{
        let mut q = $source
            .filter(package::owner_id.eq($owner_id))
            .filter(package_version::is_internal.eq(false))
            .into_boxed();
        let filter: &VersionFilter = $filter;
        if let Some(t) = &filter.package_type {
            q = q.filter(package::package_type.eq(t.clone()));
        }
        if let Some(query) = &filter.query {
            q = q.filter(package::lower_name.like(format!("%{}%", lower(query))));
        }
        if let Some(name) = &filter.name {
            q = q.filter(package::lower_name.eq(name.clone()));
        }
        q
    }};
}

/// Listing rows: versions with their package and, when it still exists, their creator.
macro_rules! with_creator {
    () => {
        package_version::table
            .inner_join(package::table)
            .left_join(users::table.on(users::id.eq(package_version::creator_id)))
    };
}

type ListingRow = (Package, PackageVersion, Option<UserRow>);

fn into_listing((package, version, creator): ListingRow) -> VersionListing {
    VersionListing {
        package,
        version,
        creator: creator.map(User::from),
    }
}

/// The selected columns of a listing row.
macro_rules! listing_columns {
    () => {
        (
            Package::as_select(),
            PackageVersion::as_select(),
            Option::<UserRow>::as_select(),
        )
    };
}

impl Database {
    /// One page of the owner's non-internal versions, newest first (creation time, then id,
    /// descending), with the total number of matching versions.
    pub fn list_versions(
        &self,
        owner_id: i64,
        filter: &VersionFilter,
        page: Page,
    ) -> Result<(Vec<VersionListing>, u64), DbError> {
        let limit = i64::try_from(page.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(page.page.max(1) - 1)
            .unwrap_or(i64::MAX)
            .saturating_mul(limit);
        self.read(|c| {
            let total: i64 = run!(c, |c| listing_query!(
                package_version::table.inner_join(package::table),
                owner_id,
                filter
            )
            .count()
            .get_result(c))?;
            let rows: Vec<ListingRow> =
                run!(c, |c| listing_query!(with_creator!(), owner_id, filter)
                    .select(listing_columns!())
                    .order((
                        package_version::created_unix.desc(),
                        package_version::id.desc(),
                    ))
                    .limit(limit)
                    .offset(offset)
                    .load(c))?;
            Ok((
                rows.into_iter().map(into_listing).collect(),
                total.max(0) as u64,
            ))
        })
    }

    /// One non-internal version with its package and creator (case-insensitive look-up).
    pub fn version_detail(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
        lower_version: &str,
    ) -> Result<Option<VersionListing>, DbError> {
        let filter = VersionFilter {
            package_type: Some(ptype.as_str().to_owned()),
            query: None,
            name: Some(lower_name.to_owned()),
        };
        let version = lower(lower_version);
        self.read(|c| {
            let row: Option<ListingRow> =
                run!(c, |c| listing_query!(with_creator!(), owner_id, &filter)
                    .filter(package_version::lower_version.eq(&version))
                    .select(listing_columns!())
                    .first(c)
                    .optional())?;
            Ok(row.map(into_listing))
        })
    }

    /// The package's non-internal version with the highest id.
    pub fn latest_version(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
    ) -> Result<Option<VersionListing>, DbError> {
        let filter = VersionFilter {
            package_type: Some(ptype.as_str().to_owned()),
            query: None,
            name: Some(lower_name.to_owned()),
        };
        self.read(|c| {
            let row: Option<ListingRow> =
                run!(c, |c| listing_query!(with_creator!(), owner_id, &filter)
                    .select(listing_columns!())
                    .order(package_version::id.desc())
                    .first(c)
                    .optional())?;
            Ok(row.map(into_listing))
        })
    }

    /// Every non-internal version of one package, oldest first; the newest by the rule of the
    /// stable latest URLs is chosen from them.
    pub fn package_versions(
        &self,
        owner_id: i64,
        ptype: PackageType,
        lower_name: &str,
    ) -> Result<Vec<VersionListing>, DbError> {
        let filter = VersionFilter {
            package_type: Some(ptype.as_str().to_owned()),
            query: None,
            name: Some(lower_name.to_owned()),
        };
        self.read(|c| {
            let rows: Vec<ListingRow> =
                run!(c, |c| listing_query!(with_creator!(), owner_id, &filter)
                    .select(listing_columns!())
                    .order(package_version::id.asc())
                    .load(c))?;
            Ok(rows.into_iter().map(into_listing).collect())
        })
    }

    /// The version's files with their blobs, by file id.
    pub fn version_files(
        &self,
        version_id: i64,
    ) -> Result<Vec<(PackageFile, PackageBlob)>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| package_file::table
                .inner_join(package_blob::table)
                .filter(package_file::version_id.eq(version_id))
                .select((PackageFile::as_select(), PackageBlob::as_select()))
                .order(package_file::id.asc())
                .load(c))?)
        })
    }
}

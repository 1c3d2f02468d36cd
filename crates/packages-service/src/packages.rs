//! Finding and deleting packages, versions and files: the one definition behind the
//! registry routes, `/api/v1/packages` and the web pages. Who may do it is decided first by
//! the caller through [`crate::access`] (each surface words its refusals as its clients
//! expect); what exists and what a delete removes is decided here, with the reference
//! registry's messages. Names are compared in the format's look-up form
//! ([`FormatRules::lookup_name`]), versions and file names case-insensitively. Blocking.

use packages_core::{lower, FormatRules};
use packages_db::{DeleteFileOutcome, VersionListing};

use crate::error::{ServiceError, ServiceResult};
use crate::state::Service;

/// No such package or version.
pub const NO_PACKAGE: &str = "package does not exist";
/// The version exists, the file does not.
pub const NO_FILE: &str = "package file does not exist";

/// A version of one of `owner_id`'s packages, if it exists.
pub fn find_version(
    svc: &Service,
    owner_id: i64,
    format: &dyn FormatRules,
    name: &str,
    version: &str,
) -> ServiceResult<Option<VersionListing>> {
    Ok(svc.db.version_detail(
        owner_id,
        format.package_type(),
        &format.lookup_name(name),
        &lower(version),
    )?)
}

/// Deletes one file; the version goes too when it was its last file (then true).
pub fn delete_file(
    svc: &Service,
    owner_id: i64,
    format: &dyn FormatRules,
    name: &str,
    version: &str,
    file: &str,
) -> ServiceResult<bool> {
    let outcome = svc.db.delete_file(
        owner_id,
        format.package_type(),
        &format.lookup_name(name),
        &lower(version),
        &lower(file),
    )?;
    match outcome {
        DeleteFileOutcome::NoVersion => Err(ServiceError::NotFound(NO_PACKAGE)),
        DeleteFileOutcome::NoFile => Err(ServiceError::NotFound(NO_FILE)),
        DeleteFileOutcome::Deleted { version_removed } => Ok(version_removed),
    }
}

/// Deletes a version with all its files.
pub fn delete_version(
    svc: &Service,
    owner_id: i64,
    format: &dyn FormatRules,
    name: &str,
    version: &str,
) -> ServiceResult<()> {
    let deleted = svc.db.delete_version(
        owner_id,
        format.package_type(),
        &format.lookup_name(name),
        &lower(version),
    )?;
    deleted
        .then_some(())
        .ok_or(ServiceError::NotFound(NO_PACKAGE))
}

/// Whether one of `owner_id`'s packages is there: it is while it has a version.
pub fn package_exists(
    svc: &Service,
    owner_id: i64,
    format: &dyn FormatRules,
    name: &str,
) -> ServiceResult<bool> {
    Ok(svc
        .db
        .latest_version(owner_id, format.package_type(), &format.lookup_name(name))?
        .is_some())
}

/// Deletes a package with all its versions and files. A package is only there while it has
/// a version; one without is left to the sweep and counts as missing.
pub fn delete_package(
    svc: &Service,
    owner_id: i64,
    format: &dyn FormatRules,
    name: &str,
) -> ServiceResult<()> {
    if !package_exists(svc, owner_id, format, name)? {
        return Err(ServiceError::NotFound(NO_PACKAGE));
    }
    svc.db
        .delete_package(owner_id, format.package_type(), &format.lookup_name(name))?
        .then_some(())
        .ok_or(ServiceError::NotFound(NO_PACKAGE))
}

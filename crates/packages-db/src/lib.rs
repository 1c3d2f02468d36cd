//! Persistence of forge-packages with diesel, on PostgreSQL or SQLite chosen at run time.
//!
//! One schema (`schema.rs`) serves both backends; each query is written once and expanded
//! per backend. All methods of [`Database`] block: call them off the async executor.

#[macro_use]
mod pool;

mod blobs;
mod browse;
mod changes;
mod cleanup_rules;
mod containers;
mod counters;
mod deletes;
mod directory;
mod error;
mod feed;
mod index;
mod jobs;
mod listing;
mod login_failures;
mod models;
mod one_statement_upload;
mod orgs;
mod owner_settings;
mod packages;
mod properties;
mod replace;
mod resumable;
mod schema;
mod sessions;
mod statistics;
mod stats;
pub mod testing;
mod tokens;
mod users;

pub use browse::PackageSearch;
pub use changes::{decode_payload, Change, ChangeSink, CHANGES_CHANNEL};
pub use cleanup_rules::{AgedVersion, CleanupRule, PackageName, RuleFields};
pub use containers::{LeadContent, NewVersionFiles, PutVersion};
pub use directory::OwnerQuery;
pub use error::DbError;
pub use feed::ChangeFeed;
pub use index::IndexedFile;
pub use jobs::Job;
pub use models::{
    access_mode_from_i16, access_mode_to_i16, AccessToken, AddedFile, DeleteFileOutcome,
    FileDetails, FileLookup, MembershipRow, NewAccessToken, NewProperty, NewTeam, NewUpload,
    NewUser, OwnerDeletion, Package, PackageBlob, PackageFile, PackageUsage, PackageVersion, Page,
    PropertyOf, Team, TeamMemberRemoval, UploadLimits, User, UserChanges, VersionFilter,
    VersionListing, WebSession, PACKAGES_UNIT,
};
pub use orgs::{TeamWithUnits, OWNERS_TEAM};
pub use pool::{Backend, Database};
pub use resumable::{Lease, ResumableUpload};
pub use stats::{PoolStats, StoredTotals};

#[cfg(test)]
mod tests;

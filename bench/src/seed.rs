//! Bulk seeding of package versions straight through the database layer: a million uploads
//! over HTTP would take longer than the whole benchmark may.

use std::error::Error;
use std::time::{Duration, Instant};

use packages_core::PackageType;
use packages_db::Database;

/// Adds `count` generic versions for `owner` (packages `<prefix>0`, `<prefix>1`, …, 1000
/// versions each), every one holding a file of its own content (`seed_content`), so the blob
/// table grows with the files as it does with real uploads. Returns the number of versions
/// added and the time the inserts took.
pub fn seed(
    database_url: &str,
    owner: &str,
    prefix: &str,
    count: u64,
) -> Result<(u64, Duration), Box<dyn Error>> {
    // Four connections are plenty: seeding runs one transaction at a time.
    let db = Database::connect(database_url, 4)?;
    let user = db.user_by_name(owner)?.ok_or_else(|| {
        format!("owner {owner:?} does not exist; start the server and create it first")
    })?;
    let start = Instant::now();
    let added = db.seed_versions(user.id, PackageType::Generic, prefix, count)?;
    Ok((added, start.elapsed()))
}

//! Bulk seeding of package versions straight through the database layer: a million uploads
//! over HTTP would take longer than the whole benchmark may.

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use packages_core::{MultiHasher, PackageType};
use packages_db::Database;

/// Adds `count` generic versions for `owner` (packages `<prefix>0`, `<prefix>1`, …, 1000
/// versions each), every one holding a file whose digests are those of `content`, so the
/// seeded rows point at a blob the store really has when `content` was uploaded before.
/// Returns the number of versions added and the time the inserts took.
pub fn seed(
    database_url: &str,
    owner: &str,
    prefix: &str,
    count: u64,
    content: &Path,
) -> Result<(u64, Duration), Box<dyn Error>> {
    let data =
        std::fs::read(content).map_err(|e| format!("cannot read {}: {e}", content.display()))?;
    let mut hasher = MultiHasher::new();
    hasher.update(&data);
    let digests = hasher.finalize();

    // Four connections are plenty: seeding runs one transaction at a time.
    let db = Database::connect(database_url, 4)?;
    let user = db.user_by_name(owner)?.ok_or_else(|| {
        format!("owner {owner:?} does not exist; start the server and create it first")
    })?;
    let start = Instant::now();
    let added = db.seed_versions(user.id, PackageType::Generic, prefix, count, &digests)?;
    Ok((added, start.elapsed()))
}

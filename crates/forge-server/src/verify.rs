//! `forge-server admin verify`: checks that what the database lists is what the blob store
//! holds. Every file row must have its content, of the recorded size (and with `--rehash`
//! all four recorded digests); content no row refers to must not outlive the grace period.
//! `--repair` removes the rows of files whose content is gone, after saying which.

use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use packages_core::{lower, BlobReader, BlobStore, MultiHasher, PackageType, StorageError};
use packages_db::{Database, PackageBlob, Page, User, VersionFilter};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Only this owner's files (unreferenced content is then not looked for).
    pub owner: Option<String>,
    /// Read every file and compare all four digests, not only the size.
    pub rehash: bool,
    /// Remove the rows of files whose content is missing.
    pub repair: bool,
    /// Unreferenced content younger than this is an upload or a delete in progress.
    pub grace: Duration,
}

/// What was found; `problems` lists each one as a line.
#[derive(Debug, Default)]
pub struct VerifyReport {
    pub files_checked: u64,
    pub bytes_checked: u64,
    pub problems: Vec<String>,
    pub rows_removed: u64,
}

/// A file row whose content is missing: enough to remove it.
struct Dangling {
    owner_id: i64,
    ptype: PackageType,
    name: String,
    /// The package name in its format's look-up form, as stored.
    lookup_name: String,
    version: String,
    file: String,
}

/// Runs the checks, writing progress and findings to `out`. Blocking.
pub fn verify(
    db: &Database,
    store: &dyn BlobStore,
    opts: &VerifyOptions,
    out: &mut dyn Write,
) -> Result<VerifyReport, String> {
    let owners: Vec<User> = match &opts.owner {
        Some(name) => vec![db
            .user_by_name(name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("owner {name:?} does not exist"))?],
        None => db.list_users(None).map_err(|e| e.to_string())?,
    };
    let mut report = VerifyReport::default();
    let formats = crate::formats::production();
    let mut dangling = Vec::new();
    for owner in &owners {
        let (rows, _) = db
            .list_versions(
                owner.id,
                &VersionFilter::default(),
                Page {
                    page: 1,
                    limit: 1_000_000_000,
                },
            )
            .map_err(|e| e.to_string())?;
        for row in rows {
            let files = db
                .version_files(row.version.id)
                .map_err(|e| e.to_string())?;
            for (file, blob) in files {
                let label = format!(
                    "{}/{}/{}/{}/{}",
                    owner.name,
                    row.package.package_type,
                    row.package.name,
                    row.version.version,
                    file.name
                );
                report.files_checked += 1;
                match check_content(store, &blob, opts.rehash) {
                    Ok(size) => report.bytes_checked += size,
                    Err(Finding::Missing) => {
                        report
                            .problems
                            .push(format!("{label}: content {} is missing", blob.hash_sha256));
                        if let Some(format) = formats.find(&row.package.package_type) {
                            let ptype = format.package_type();
                            dangling.push(Dangling {
                                owner_id: owner.id,
                                ptype,
                                name: row.package.name.clone(),
                                lookup_name: row.package.lower_name.clone(),
                                version: row.version.version.clone(),
                                file: file.name.clone(),
                            });
                        }
                    }
                    Err(Finding::Wrong(what)) => report.problems.push(format!("{label}: {what}")),
                    Err(Finding::Failed(e)) => return Err(format!("{label}: {e}")),
                }
            }
        }
    }
    if opts.owner.is_none() {
        let cutoff = SystemTime::now()
            .checked_sub(opts.grace)
            .unwrap_or(UNIX_EPOCH);
        let mut after: Option<String> = None;
        loop {
            let page = store
                .list(after.as_deref(), 1000)
                .map_err(|e| e.to_string())?;
            let old: Vec<String> = page
                .keys
                .iter()
                .filter(|k| k.modified < cutoff)
                .map(|k| k.key.clone())
                .collect();
            let used = db.blob_keys_in_use(&old).map_err(|e| e.to_string())?;
            for key in old.iter().filter(|k| !used.contains(*k)) {
                report.problems.push(format!(
                    "content {key} is referenced by no row and older than the grace period (the sweep removes it)"
                ));
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    for line in &report.problems {
        let _ = writeln!(out, "problem: {line}");
    }
    if opts.repair && !dangling.is_empty() {
        let _ = writeln!(
            out,
            "repair: removing {} file rows whose content is missing:",
            dangling.len()
        );
        for d in &dangling {
            let _ = writeln!(
                out,
                "repair:   {}/{}/{}/{}",
                d.ptype.as_str(),
                d.name,
                d.version,
                d.file
            );
        }
        for d in dangling {
            db.delete_file(
                d.owner_id,
                d.ptype,
                &d.lookup_name,
                &lower(&d.version),
                &lower(&d.file),
            )
            .map_err(|e| e.to_string())?;
            report.rows_removed += 1;
        }
    }
    let _ = writeln!(
        out,
        "verified {} files ({} bytes{}): {} problems{}",
        report.files_checked,
        report.bytes_checked,
        if opts.rehash {
            ", digests recomputed"
        } else {
            ""
        },
        report.problems.len(),
        if report.rows_removed > 0 {
            format!(", {} rows removed", report.rows_removed)
        } else {
            String::new()
        }
    );
    Ok(report)
}

enum Finding {
    Missing,
    Wrong(String),
    Failed(String),
}

/// Checks one blob's content; returns its size.
fn check_content(store: &dyn BlobStore, blob: &PackageBlob, rehash: bool) -> Result<u64, Finding> {
    let (mut file, len): (Box<dyn Read>, u64) = match store.open(blob.store_key(), None) {
        Ok(BlobReader::File(file, _)) => {
            let len = file
                .metadata()
                .map_err(|e| Finding::Failed(e.to_string()))?
                .len();
            (Box::new(file), len)
        }
        Ok(BlobReader::Stream(stream, len)) => (stream, len),
        Err(StorageError::NotFound(_)) => return Err(Finding::Missing),
        Err(e) => return Err(Finding::Failed(e.to_string())),
    };
    if i64::try_from(len).ok() != Some(blob.size) {
        return Err(Finding::Wrong(format!(
            "content is {len} bytes, the row says {}",
            blob.size
        )));
    }
    if rehash {
        let mut hasher = MultiHasher::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| Finding::Failed(e.to_string()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let d = hasher.finalize();
        let wrong: Vec<&str> = [
            ("MD5", d.md5 == blob.hash_md5),
            ("SHA-1", d.sha1 == blob.hash_sha1),
            ("SHA-256", d.sha256 == blob.hash_sha256),
            ("SHA-512", d.sha512 == blob.hash_sha512),
        ]
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| name)
        .collect();
        if !wrong.is_empty() {
            return Err(Finding::Wrong(format!(
                "content does not match its {}",
                wrong.join(", ")
            )));
        }
    }
    Ok(len)
}

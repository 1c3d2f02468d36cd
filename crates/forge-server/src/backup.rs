//! `forge-server admin backup DIR` and `admin restore DIR`: a consistent copy of a running
//! registry, and its return into a fresh data directory and database.
//!
//! A backup is the database at one moment plus the content its rows refer to. SQLite is
//! copied with `VACUUM INTO`, one consistent snapshot taken while the server keeps serving;
//! PostgreSQL with `pg_dump` (custom format), which also reads one snapshot. The manifest
//! (`blobs.manifest`, one `sha256 size` line per blob row) is read from the SQLite copy
//! itself, or from the database right after the dump (so it may also list content of
//! uploads that finished after the dump's snapshot; a restore stores it and the sweep
//! removes what no row refers to after the grace period); content is immutable under its key
//! and the sweep keeps unreferenced content for the grace period, so copying it after the
//! snapshot is consistent. A restore copies the database back, stores every listed blob,
//! and ends with `admin verify --rehash`.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use packages_core::{BlobReader, BlobStore, MultiHasher};
use packages_db::{Backend, Database};

use crate::admin::AdminError;
use crate::config::Config;
use crate::server::open_backends;
use crate::verify::{verify, VerifyOptions, VerifyReport};

const SQLITE_FILE: &str = "forge.db";
const PG_DUMP_FILE: &str = "forge.pgdump";
const MANIFEST: &str = "blobs.manifest";
const CONTENT_DIR: &str = "packages";

fn invalid(message: impl Into<String>) -> AdminError {
    AdminError::Invalid(message.into())
}

/// A PostgreSQL client tool: on `PATH`, or in the newest `/usr/lib/postgresql/*/bin`.
fn pg_tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.into_iter()
        .rev()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

fn run_tool(mut cmd: Command) -> Result<(), AdminError> {
    let out = cmd
        .output()
        .map_err(|e| invalid(format!("cannot run {:?}: {e}", cmd.get_program())))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(invalid(format!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn content_path(dir: &Path, sha256: &str) -> Result<PathBuf, AdminError> {
    if !packages_core::Digests::is_sha256_hex(sha256) {
        return Err(invalid(format!(
            "not a SHA-256 in the manifest: {sha256:?}"
        )));
    }
    Ok(dir
        .join(CONTENT_DIR)
        .join(&sha256[0..2])
        .join(&sha256[2..4])
        .join(sha256))
}

/// What a backup holds.
#[derive(Debug, Default)]
pub struct BackupReport {
    pub blobs: u64,
    pub bytes: u64,
}

/// Writes a backup of the running registry's database and content into `dir` (new or
/// empty).
pub fn backup(config: &Config, dir: &Path) -> Result<BackupReport, AdminError> {
    if dir.exists()
        && fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(invalid(format!(
            "{} exists and is not empty",
            dir.display()
        )));
    }
    fs::create_dir_all(dir)
        .map_err(|e| invalid(format!("cannot create {}: {e}", dir.display())))?;
    let (db, store) = open_backends(config)?;
    let blobs = match db.backend() {
        Backend::Sqlite => {
            let copy = dir.join(SQLITE_FILE);
            db.vacuum_into(&copy)?;
            let snapshot = Database::connect(&format!("sqlite://{}", copy.display()), 1)?;
            snapshot.all_blobs()?
        }
        Backend::Postgres => {
            let mut cmd = Command::new(pg_tool("pg_dump"));
            cmd.args(["--format=custom", "--no-owner", "--file"])
                .arg(dir.join(PG_DUMP_FILE))
                .arg(config.database.url.expose());
            run_tool(cmd)?;
            db.all_blobs()?
        }
    };
    let mut manifest = String::new();
    let mut report = BackupReport::default();
    for (sha256, key, size) in blobs {
        let target = content_path(dir, &sha256)?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| invalid(e.to_string()))?;
        }
        let mut reader: Box<dyn Read> = match store
            .open(&key, None)
            .map_err(|e| invalid(format!("{sha256}: {e}")))?
        {
            BlobReader::File(file, _) => Box::new(file),
            BlobReader::Stream(stream, _) => stream,
        };
        let mut out = fs::File::create(&target).map_err(|e| invalid(e.to_string()))?;
        let copied = std::io::copy(&mut reader, &mut out).map_err(|e| invalid(e.to_string()))?;
        out.sync_all().map_err(|e| invalid(e.to_string()))?;
        if i64::try_from(copied).ok() != Some(size) {
            return Err(invalid(format!(
                "{sha256}: stored content is {copied} bytes, the row says {size}"
            )));
        }
        manifest.push_str(&format!("{sha256} {size}\n"));
        report.blobs += 1;
        report.bytes += copied;
    }
    fs::write(dir.join(MANIFEST), manifest).map_err(|e| invalid(e.to_string()))?;
    Ok(report)
}

/// Restores the backup in `dir` into the configured data directory and database, which
/// must be empty, then verifies every file.
pub fn restore(
    config: &Config,
    dir: &Path,
    out: &mut dyn Write,
) -> Result<VerifyReport, AdminError> {
    let manifest = fs::File::open(dir.join(MANIFEST))
        .map_err(|e| invalid(format!("{} is not a backup: {e}", dir.display())))?;
    if config.database.url.is_empty() {
        let target = config.server.data_dir.join(SQLITE_FILE);
        if target.exists() {
            return Err(invalid(format!(
                "{} exists; restore into a fresh data directory",
                target.display()
            )));
        }
        fs::create_dir_all(&config.server.data_dir).map_err(|e| invalid(e.to_string()))?;
        fs::copy(dir.join(SQLITE_FILE), &target)
            .map_err(|e| invalid(format!("copying the database: {e}")))?;
    } else {
        let mut cmd = Command::new(pg_tool("pg_restore"));
        cmd.args(["--no-owner", "--exit-on-error", "--dbname"])
            .arg(config.database.url.expose())
            .arg(dir.join(PG_DUMP_FILE));
        run_tool(cmd)?;
    }
    let (db, store) = open_backends(config)?;
    for line in BufReader::new(manifest).lines() {
        let line = line.map_err(|e| invalid(e.to_string()))?;
        let Some((sha256, _)) = line.split_once(' ') else {
            continue;
        };
        store_content(&*store, &content_path(dir, sha256)?, sha256)?;
    }
    let options = VerifyOptions {
        rehash: true,
        grace: config.cleanup.blob_grace_period,
        ..VerifyOptions::default()
    };
    let report = verify(&db, &*store, &options, out).map_err(AdminError::Invalid)?;
    if !report.problems.is_empty() {
        return Err(invalid(format!(
            "the restored data has {} problems",
            report.problems.len()
        )));
    }
    Ok(report)
}

/// Puts one file of the backup into the store under its key, checking it on the way.
fn store_content(store: &dyn BlobStore, path: &Path, sha256: &str) -> Result<(), AdminError> {
    let mut file = fs::File::open(path).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    let mut pending = store.begin()?;
    let mut hasher = MultiHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| invalid(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        pending.write_all(&buf[..n])?;
    }
    if hasher.finalize().sha256 != sha256 {
        return Err(invalid(format!(
            "{}: content does not match its name",
            path.display()
        )));
    }
    let stored = store.persist(pending, sha256)?;
    if stored.key() != sha256 {
        // The rows of the backup name content by its SHA-256, as the local store does.
        return Err(invalid(
            "restore needs a store that names content by its SHA-256 (the local store)",
        ));
    }
    stored.confirm(true)?;
    Ok(())
}

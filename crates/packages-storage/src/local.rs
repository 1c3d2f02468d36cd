//! Content-addressed blob storage on a local file system.
//!
//! Layout under the root:
//!
//! ```text
//! <root>/<h[0..2]>/<h[2..4]>/<h>   content whose SHA-256 is h
//! <root>/tmp/upload-<random>       uploads being written or waiting for their commit, where
//!                                  the file system has no unnamed files (`O_TMPFILE`)
//! <root>/trash/<h>-<random>        content being removed by the sweep
//! <root>/resumable/<id>            content of a resumable upload so far
//! ```
//!
//! Content only ever appears under its key through a hard link from a complete, synced
//! temporary file, so a reader or a crash never sees a partial blob under a key. On Linux
//! the temporary file has no name at all (`O_TMPFILE`, linked through `/proc/self/fd`): a
//! failed upload or a dead process leaves nothing to collect, and concurrent uploads do not
//! queue on the lock of one shared directory to create and delete their names. Keys are
//! checked to be SHA-256 hex before they are turned into paths.

use std::fs::{self, File};
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use packages_core::{
    BlobReader, BlobStore, DigestPass, Digests, DirectDownload, KeyPage, ListedKey, PendingBlob,
    ResumableAppend, StorageError, StoredBlob,
};
use tempfile::{NamedTempFile, TempPath};

use crate::writeback::Writeback;
use crate::{unnamed, writers};

const TMP_DIR: &str = "tmp";
const TRASH_DIR: &str = "trash";
const RESUMABLE_DIR: &str = "resumable";

/// A [`BlobStore`] keeping each blob as a file named by its SHA-256 under a root directory.
pub struct LocalBlobStore {
    root: PathBuf,
    tmp: PathBuf,
    trash: PathBuf,
    resumable: PathBuf,
}

impl std::fmt::Debug for LocalBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBlobStore")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl LocalBlobStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        let tmp = root.join(TMP_DIR);
        let trash = root.join(TRASH_DIR);
        fs::create_dir_all(&tmp)?;
        fs::create_dir_all(&trash)?;
        let resumable = root.join(RESUMABLE_DIR);
        fs::create_dir_all(&resumable)?;
        Ok(Self {
            root,
            tmp,
            trash,
            resumable,
        })
    }

    /// The root directory of the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the content of `sha256` lives, or `None` if it is not a valid key.
    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        Digests::is_sha256_hex(sha256).then(|| self.key_path(sha256))
    }

    /// The directory holding uploads in progress; empty once every upload has finished.
    pub fn tmp_dir(&self) -> PathBuf {
        self.tmp.clone()
    }

    /// The directory holding the content of resumable uploads in progress.
    pub fn resumable_dir(&self) -> PathBuf {
        self.resumable.clone()
    }

    fn resumable_path(&self, id: &str) -> Result<PathBuf, StorageError> {
        if !packages_core::blob_store::is_resumable_id(id) {
            return Err(StorageError::InvalidKey);
        }
        Ok(self.resumable.join(id))
    }

    fn key_path(&self, sha256: &str) -> PathBuf {
        self.root
            .join(&sha256[0..2])
            .join(&sha256[2..4])
            .join(sha256)
    }

    fn checked_path(&self, sha256: &str) -> Result<PathBuf, StorageError> {
        self.path_of(sha256).ok_or(StorageError::InvalidKey)
    }

    /// Creates the two directory levels above `path`, syncing the parent of any level it
    /// creates so that the new link below survives a crash.
    fn ensure_parents(&self, path: &Path) -> io::Result<()> {
        let Some(level2) = path.parent() else {
            return Ok(());
        };
        let Some(level1) = level2.parent() else {
            return Ok(());
        };
        for (dir, parent) in [(level1, &*self.root), (level2, level1)] {
            match fs::create_dir(dir) {
                Ok(()) => sync_dir(parent)?,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Links the finished temporary file under `path`, creating the directories above it
    /// the first time one is needed (trying first spares two `mkdir`s on every upload).
    fn link(&self, temp: &Temp, path: &Path) -> io::Result<()> {
        match temp.link_to(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.ensure_parents(path)?;
                temp.link_to(path)
            }
            other => other,
        }
    }

    /// Finds the temporary file behind `pending`, which must come from a local store.
    fn take_pending(&self, pending: Box<dyn PendingBlob>) -> Result<Temp, StorageError> {
        pending
            .into_any()
            .downcast::<LocalPending>()
            .map(|p| p.temp)
            .map_err(|_| {
                StorageError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "pending blob was not begun by a local store",
                ))
            })
    }

    fn trash_path(&self, sha256: &str) -> Result<PathBuf, StorageError> {
        Ok(self
            .trash
            .join(format!("{sha256}-{}", hex::encode(random_bytes()?))))
    }

    /// Puts content taken out by [`BlobStore::remove`] back under its key.
    fn restore(&self, trashed: &Path, path: &Path) -> io::Result<()> {
        match fs::hard_link(trashed, path) {
            Ok(()) => {
                // The trash entry is about to go: the restored link must be on disk first.
                if let Some(parent) = path.parent() {
                    sync_dir(parent)?;
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            // A concurrent restore may have moved the trash entry back already.
            Err(e) if e.kind() == io::ErrorKind::NotFound && path.try_exists()? => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl BlobStore for LocalBlobStore {
    fn begin(&self) -> Result<Box<dyn PendingBlob>, StorageError> {
        let temp = match unnamed::create(&self.tmp)? {
            Some(file) => Temp::Unnamed(file),
            None => Temp::Named(
                tempfile::Builder::new()
                    .prefix(&upload_prefix())
                    .tempfile_in(&self.tmp)?,
            ),
        };
        Ok(Box::new(LocalPending::new(temp, 0)))
    }

    fn persist(
        &self,
        pending: Box<dyn PendingBlob>,
        sha256: &str,
    ) -> Result<Box<dyn StoredBlob>, StorageError> {
        let path = self.checked_path(sha256)?;
        let temp = self.take_pending(pending)?;
        // Durable before any row can point at it.
        temp.file().sync_data()?;
        let was_present = match self.link(&temp, &path) {
            Ok(()) => {
                if let Some(parent) = path.parent() {
                    sync_dir(parent)?;
                }
                false
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Freshen the existing copy so an age-based sweep does not pick it while the
                // new reference is being committed; `confirm` covers the case where it did.
                if let Err(e) = File::open(&path).and_then(|f| f.set_modified(SystemTime::now())) {
                    log::debug!("could not refresh mtime of {}: {e}", path.display());
                }
                true
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Box::new(LocalStored {
            temp,
            path,
            key: sha256.to_owned(),
            was_present,
        }))
    }

    /// The whole file, whatever the range: the reader seeks (or sends it with `sendfile`).
    fn open(&self, sha256: &str, _range: Option<Range<u64>>) -> Result<BlobReader, StorageError> {
        let path = self.checked_path(sha256)?;
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound(sha256.to_owned()))
            }
            Err(e) => return Err(e.into()),
        };
        let len = file.metadata()?.len();
        Ok(BlobReader::File(file, len))
    }

    /// Files are served by the server itself.
    fn direct_url(
        &self,
        _key: &str,
        _download: &DirectDownload<'_>,
    ) -> Result<Option<String>, StorageError> {
        Ok(None)
    }

    fn check(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn resumable_create(&self, id: &str) -> Result<String, StorageError> {
        let path = self.resumable_path(id)?;
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.sync_all()?;
        sync_dir(&self.resumable)?;
        // The file itself is the whole state.
        Ok(String::new())
    }

    fn resumable_append(
        &self,
        id: &str,
        _state: &str,
        offset: u64,
    ) -> Result<Box<dyn ResumableAppend>, StorageError> {
        let path = self.resumable_path(id)?;
        let mut file = match fs::OpenOptions::new().write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::NotFound(id.to_owned()))
            }
            Err(e) => return Err(e.into()),
        };
        if file.metadata()?.len() < offset {
            return Err(StorageError::Io(io::Error::other(
                "the resumable upload's file is shorter than its recorded offset",
            )));
        }
        // Bytes past the recorded offset were never acknowledged (an append that failed or
        // was discarded); the next ones go in their place.
        file.set_len(offset)?;
        file.seek(SeekFrom::Start(offset))?;
        Ok(Box::new(LocalAppend { file, end: offset }))
    }

    fn resumable_finish(
        &self,
        id: &str,
        _state: &str,
        len: u64,
        digest: DigestPass<'_>,
    ) -> Result<Box<dyn StoredBlob>, StorageError> {
        let path = self.resumable_path(id)?;
        let file = File::options().read(true).write(true).open(&path)?;
        if file.metadata()?.len() < len {
            return Err(StorageError::Io(io::Error::other(
                "the resumable upload's file is shorter than its length",
            )));
        }
        file.set_len(len)?;
        let sha256 = digest(&mut io::BufReader::with_capacity(256 << 10, &file))?;
        // From here the file is an ordinary upload temporary: persisting links it under its
        // digest, and it goes once the commit is confirmed.
        let temp = NamedTempFile::from_parts(file, TempPath::try_from_path(path)?);
        self.persist(Box::new(LocalPending::new(Temp::Named(temp), len)), &sha256)
    }

    fn resumable_abort(&self, id: &str, _state: &str) -> Result<(), StorageError> {
        remove_if_present(&self.resumable_path(id)?)?;
        Ok(())
    }

    fn contains(&self, sha256: &str) -> Result<bool, StorageError> {
        let path = self.checked_path(sha256)?;
        Ok(path.try_exists()?)
    }

    fn remove(
        &self,
        sha256: &str,
        still_referenced: &mut dyn FnMut() -> Result<bool, StorageError>,
    ) -> Result<bool, StorageError> {
        let path = self.checked_path(sha256)?;
        let trashed = self.trash_path(sha256)?;
        match fs::rename(&path, &trashed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        // From here no new reader can open the content; an upload of the same content that
        // committed meanwhile shows up in `still_referenced`, or relinks it in `confirm`.
        let verdict = still_referenced();
        if !matches!(verdict, Ok(false)) {
            if let Err(e) = self.restore(&trashed, &path) {
                log::error!(
                    "could not restore {} from {}: {e}; the content stays in the trash",
                    path.display(),
                    trashed.display()
                );
                return Err(e.into());
            }
        }
        match fs::remove_file(&trashed) {
            Ok(()) => {}
            // A concurrent `remove_stale_uploads` already put it back under its key.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return verdict.map(|_| false),
            Err(e) => {
                log::warn!("could not delete {}: {e}", trashed.display());
            }
        }
        verdict.map(|referenced| !referenced)
    }

    fn list(&self, after: Option<&str>, limit: usize) -> Result<KeyPage, StorageError> {
        // Directories are read one at a time in key order, so memory holds one page and
        // one directory's names, however many blobs there are.
        let after = after.unwrap_or("");
        let limit = limit.max(1);
        let mut keys = Vec::new();
        for level1 in sorted_hex_subdirs(&self.root, after.get(0..2))? {
            // Only within the directory the previous page ended in do the levels below skip.
            let same_level1 = level1.file_name().and_then(|n| n.to_str()) == after.get(0..2);
            let from2 = after.get(2..4).filter(|_| same_level1);
            for level2 in sorted_hex_subdirs(&level1, from2)? {
                let mut names: Vec<(String, fs::DirEntry)> = Vec::new();
                for entry in read_dir_if_present(&level2)? {
                    let entry = entry?;
                    if let Some(name) = entry.file_name().to_str().map(str::to_owned) {
                        if Digests::is_sha256_hex(&name) && name.as_str() > after {
                            names.push((name, entry));
                        }
                    }
                }
                names.sort_by(|a, b| a.0.cmp(&b.0));
                for (name, entry) in names {
                    if keys.len() == limit {
                        let next = keys.last().map(|k: &ListedKey| k.key.clone());
                        return Ok(KeyPage { keys, next });
                    }
                    if let Some(modified) = modified(&entry)? {
                        keys.push(ListedKey {
                            key: name,
                            modified,
                        });
                    }
                }
            }
        }
        Ok(KeyPage { keys, next: None })
    }

    fn remove_stale_uploads(&self, cutoff: SystemTime) -> Result<usize, StorageError> {
        let mut removed = 0;
        for entry in read_dir_if_present(&self.tmp)? {
            let entry = entry?;
            let orphaned = entry.file_name().to_str().is_some_and(left_by_dead_process);
            if orphaned || matches!(modified(&entry)?, Some(mtime) if mtime < cutoff) {
                removed += usize::from(remove_if_present(&entry.path())?);
            }
        }
        for entry in read_dir_if_present(&self.trash)? {
            let entry = entry?;
            if !matches!(modified(&entry)?, Some(mtime) if mtime < cutoff) {
                continue;
            }
            let trashed = entry.path();
            // A trash entry outliving its `remove` means the process died between taking
            // the content out and deciding its fate; the row check may have found it
            // referenced, so it goes back under its key and the next sweep decides again.
            if let Some(key) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.split_once('-'))
                .map(|(key, _)| key)
                .filter(|key| Digests::is_sha256_hex(key))
            {
                let path = self.key_path(key);
                self.ensure_parents(&path)?;
                match self.restore(&trashed, &path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            removed += usize::from(remove_if_present(&trashed)?);
        }
        Ok(removed)
    }
}

/// Temporaries are named `upload-<writer>-<pid>-<random>` after the process writing them
/// (see [`crate::writers`]), so the leftovers of a process that died are removed by the next
/// sweep instead of after the grace period.
fn upload_prefix() -> String {
    format!("upload-{}-{}-", writers::writer_tag(), std::process::id())
}

/// True for a temporary written by a process of this machine and namespace that no longer
/// runs.
fn left_by_dead_process(file_name: &str) -> bool {
    let mut parts = file_name.splitn(4, '-');
    let (Some("upload"), Some(writer), Some(pid), Some(_)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    writers::is_dead(writer == writers::writer_tag(), pid)
}

/// An append to a resumable upload's file.
struct LocalAppend {
    file: File,
    end: u64,
}

impl ResumableAppend for LocalAppend {
    fn write_all(&mut self, data: &[u8]) -> Result<(), StorageError> {
        self.file.write_all(data)?;
        self.end += data.len() as u64;
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(u64, String), StorageError> {
        // The offset is acknowledged to the client only once its bytes are on disk.
        self.file.sync_data()?;
        Ok((self.end, String::new()))
    }
}

/// An upload's content before it is linked under its key; either kind goes away when
/// dropped.
enum Temp {
    /// A file without a name (`O_TMPFILE`): freed by the kernel when closed unlinked.
    Unnamed(File),
    /// A named file in `tmp/`, where unnamed ones are not available, or a finished resumable
    /// upload's file: deleted when dropped.
    Named(NamedTempFile),
}

impl Temp {
    fn file(&self) -> &File {
        match self {
            Temp::Unnamed(file) => file,
            Temp::Named(temp) => temp.as_file(),
        }
    }

    fn link_to(&self, path: &Path) -> io::Result<()> {
        match self {
            Temp::Unnamed(file) => unnamed::link(file, path),
            Temp::Named(temp) => fs::hard_link(temp.path(), path),
        }
    }

    /// After `link_to` failed with `e`: an unnamed file whose only name the sweep removed
    /// cannot be linked again (the kernel allows that once), so its content goes into a new
    /// unnamed file that takes the name.
    fn relink_swept(&self, e: io::Error, path: &Path) -> io::Result<()> {
        let (Temp::Unnamed(file), io::ErrorKind::NotFound) = (self, e.kind()) else {
            return Err(e);
        };
        let dir = path.parent().ok_or(e)?;
        let Some(mut copy) = unnamed::create(dir)? else {
            return Err(io::ErrorKind::NotFound.into());
        };
        let mut source = file;
        source.seek(SeekFrom::Start(0))?;
        io::copy(&mut source, &mut copy)?;
        copy.sync_data()?;
        unnamed::link(&copy, path)
    }
}

/// An upload being written.
struct LocalPending {
    temp: Temp,
    len: u64,
    writeback: Writeback,
}

impl LocalPending {
    /// An upload whose file already holds `len` bytes.
    fn new(temp: Temp, len: u64) -> Self {
        LocalPending {
            temp,
            len,
            writeback: Writeback::default(),
        }
    }
}

impl PendingBlob for LocalPending {
    fn write_all(&mut self, data: &[u8]) -> Result<(), StorageError> {
        let mut file = self.temp.file();
        file.write_all(data)?;
        self.len += data.len() as u64;
        self.writeback.wrote(file, self.len);
        Ok(())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

struct LocalStored {
    temp: Temp,
    path: PathBuf,
    key: String,
    was_present: bool,
}

impl StoredBlob for LocalStored {
    fn key(&self) -> &str {
        &self.key
    }

    /// Identical content shares one key here, so whichever upload's row won, it refers to
    /// this key.
    fn confirm(self: Box<Self>, _used: bool) -> Result<(), StorageError> {
        let LocalStored { temp, path, .. } = *self;
        // Linking unconditionally both checks and repairs: a sweep that took the content
        // away before the commit became visible leaves the key empty.
        match temp.link_to(&path).or_else(|e| temp.relink_swept(e, &path)) {
            Ok(()) => {
                if let Some(parent) = path.parent() {
                    sync_dir(parent)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                if !path.try_exists()? {
                    return Err(e.into());
                }
            }
        }
        // The content is in place; a named temporary file left behind is only clutter that
        // `remove_stale_uploads` collects, so it must not fail the committed upload.
        if let Temp::Named(temp) = temp {
            if let Err(e) = temp.close() {
                log::warn!("could not delete upload temporary file: {e}");
            }
        }
        Ok(())
    }

    fn was_present(&self) -> bool {
        self.was_present
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn random_bytes() -> Result<[u8; 8], StorageError> {
    let mut buf = [0u8; 8];
    getrandom::fill(&mut buf).map_err(|e| StorageError::Io(io::Error::other(e.to_string())))?;
    Ok(buf)
}

fn read_dir_if_present(dir: &Path) -> io::Result<Vec<io::Result<fs::DirEntry>>> {
    match fs::read_dir(dir) {
        Ok(entries) => Ok(entries.collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Subdirectories named by two lowercase hex digits (the key levels, never `tmp` or
/// `trash`) in ascending order, from `from` on when given.
fn sorted_hex_subdirs(dir: &Path, from: Option<&str>) -> io::Result<Vec<PathBuf>> {
    let mut dirs = hex_subdirs(dir)?;
    dirs.sort();
    if let Some(from) = from {
        dirs.retain(|d| {
            d.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n >= from)
        });
    }
    Ok(dirs)
}

/// Subdirectories named by two lowercase hex digits: the key levels, never `tmp` or `trash`.
fn hex_subdirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in read_dir_if_present(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let is_level = name.len() == 2
            && name
                .as_encoded_bytes()
                .iter()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if is_level && entry.file_type()?.is_dir() {
            dirs.push(entry.path());
        }
    }
    Ok(dirs)
}

/// The entry's mtime, or `None` if it vanished while being looked at.
fn modified(entry: &fs::DirEntry) -> io::Result<Option<SystemTime>> {
    match entry.metadata() {
        Ok(meta) if meta.is_file() => meta.modified().map(Some),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn remove_if_present(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

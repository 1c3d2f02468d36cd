//! Files without a name until they are complete: `O_TMPFILE` on Linux, linked into place
//! through `/proc/self/fd`. Elsewhere, or where the file system or `/proc` is missing, the
//! caller falls back to a named temporary file.

use std::fs::File;
use std::io;
use std::path::Path;

/// A new unnamed file on the file system of `dir`, open for reading and writing, or `None`
/// when unnamed files cannot be made and linked here.
#[cfg(target_os = "linux")]
pub(crate) fn create(dir: &Path) -> io::Result<Option<File>> {
    use rustix::fs::{Mode, OFlags};
    use rustix::io::Errno;
    if !proc_fd_available() {
        return Ok(None);
    }
    let flags = OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC;
    match rustix::fs::open(dir, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => Ok(Some(File::from(fd))),
        // No support in the file system (EOPNOTSUPP), or a kernel before 3.11 that reads the
        // flag as O_DIRECTORY (EISDIR) or rejects it (EINVAL).
        Err(e) if e == Errno::OPNOTSUPP || e == Errno::ISDIR || e == Errno::INVAL => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn create(_dir: &Path) -> io::Result<Option<File>> {
    Ok(None)
}

/// Gives the file made by [`create`] the name `path` (on the same file system). Also
/// works once it has a name, making another link to it.
#[cfg(target_os = "linux")]
pub(crate) fn link(file: &File, path: &Path) -> io::Result<()> {
    use rustix::fs::{AtFlags, CWD};
    use std::os::fd::AsRawFd;
    let source = format!("/proc/self/fd/{}", file.as_raw_fd());
    rustix::fs::linkat(CWD, source.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn link(_file: &File, _path: &Path) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

/// Whether `/proc` shows this process's descriptors, which linking needs; checked once.
#[cfg(target_os = "linux")]
fn proc_fd_available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;

    #[test]
    fn an_unnamed_file_appears_only_when_linked() {
        let dir = tempfile::tempdir().unwrap();
        let Some(mut file) = create(dir.path()).unwrap() else {
            eprintln!("no unnamed files here; nothing to check");
            return;
        };
        file.write_all(b"content").unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let path = dir.path().join("named");
        link(&file, &path).unwrap();
        let mut read = String::new();
        File::open(&path)
            .unwrap()
            .read_to_string(&mut read)
            .unwrap();
        assert_eq!(read, "content");
        // A second link to a name that exists says so, which the store relies on.
        let again = link(&file, &path).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        // A missing directory is NotFound, which makes the store create it.
        let missing = link(&file, &dir.path().join("no/such/dir")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_file_systems_of_the_tests_have_unnamed_files() {
        let dir = tempfile::tempdir().unwrap();
        assert!(create(dir.path()).unwrap().is_some());
    }
}

//! What the store's integration tests share. Each test file compiles this module on its
//! own and uses part of it.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

/// `len` deterministic bytes from `seed` (xorshift), different at every offset the tests cut
/// at: content that comes back shifted, repeated or reordered does not compare equal.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Unnamed files (`O_TMPFILE`) made in `dir` that this process still holds open: the kernel
/// shows them as `<dir>/#<inode> (deleted)`. Uploads in progress on Linux are such files.
pub fn unnamed_files_in(dir: &Path) -> usize {
    let Ok(dir) = fs::canonicalize(dir) else {
        return 0;
    };
    fs::read_dir("/proc/self/fd")
        .map(|fds| {
            fds.flatten()
                .filter_map(|fd| fs::read_link(fd.path()).ok())
                .filter(|target| {
                    target.parent() == Some(dir.as_path())
                        && target.to_str().is_some_and(|t| t.ends_with(" (deleted)"))
                })
                .count()
        })
        .unwrap_or(0)
}

//! Which process wrote an upload's leftovers. Uploads in progress are named after their
//! writer (this machine, its process namespace and the process id), so that the leftovers
//! of a process that died (a crash, `kill -9`) are known for what they are: no live upload
//! can own them, and the next sweep (one runs at start-up) removes them at once instead of
//! after the grace period.
//!
//! A writer is only judged by a process that can see it: same machine and same process-id
//! namespace (a container has its own), where `/proc` shows which processes run. Leftovers
//! of other machines, containers and restarted containers wait for the grace period.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

/// This machine and process namespace as letters and digits, so it cannot be confused with
/// the parts of a name around it.
pub(crate) fn writer_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let mut tag: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        if tag.is_empty() {
            tag.push_str("host");
        }
        // `pid:[4026531836]`: the namespace the process ids below belong to.
        let namespace: String = fs::read_link("/proc/self/ns/pid")
            .map(|l| {
                l.to_string_lossy()
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect()
            })
            .unwrap_or_default();
        if !namespace.is_empty() {
            tag.push('n');
            tag.push_str(&namespace);
        }
        tag
    })
}

/// Four bytes standing for [`writer_tag`] (FNV-1a), for names that must stay short and
/// hexadecimal. Not a secret: it only tells this writer's names from others'.
pub(crate) fn writer_hash() -> [u8; 4] {
    static HASH: OnceLock<[u8; 4]> = OnceLock::new();
    *HASH.get_or_init(|| {
        let hash = writer_tag().bytes().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        hash.to_be_bytes()
    })
}

/// True when process `pid` of the writer named by `tag` is one this process can see and it
/// no longer runs. Where the running processes cannot be seen (no `/proc`), or the writer is
/// this process, false.
pub(crate) fn is_dead(same_writer: bool, pid: u32) -> bool {
    same_writer
        && pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_and_live_ones_are_not_dead() {
        assert!(!is_dead(true, std::process::id()));
        // Process 1 always runs.
        assert!(!is_dead(true, 1));
        assert!(!is_dead(false, u32::MAX - 1));
    }

    #[test]
    fn a_process_that_does_not_run_is_dead() {
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        assert!(is_dead(true, pid));
        assert!(!is_dead(false, pid));
    }

    #[test]
    fn the_tag_is_alphanumeric() {
        assert!(!writer_tag().is_empty());
        assert!(writer_tag().chars().all(|c| c.is_ascii_alphanumeric()));
    }
}

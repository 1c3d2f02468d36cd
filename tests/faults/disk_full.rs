//! A full disk: the data directory is a small tmpfs. An upload that does not fit answers
//! 507 with a message and leaves no temporary file; with the disk full, downloads and health
//! keep working and every upload answers 507; once space is freed uploads work again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use forge_e2e::{file_path, Auth, Backend, TestEnv, ANON};

use crate::support::*;

/// Size of the file system under the data directory.
const FS_SIZE: &str = "24m";

/// A tmpfs mounted for one case; unmounted (and its mount point removed) on drop, after
/// the server using it has stopped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={FS_SIZE}"), "tmpfs"])
            .arg(at)
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
}

/// Writes a file until the file system is full; returns its path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).expect("create filler");
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    // The last partial block.
    while f.write_all(&block[..1]).is_ok() {}
    path
}

pub fn disk_full(backend: Backend) {
    if !is_root() {
        return skip("disk_full", "mounting a tmpfs needs root");
    }
    let mut env = TestEnv::new(backend);
    env.config.database.download_count_flush = Duration::from_millis(200);
    let Some(mount) = Tmpfs::mount(&env.config.server.data_dir) else {
        return skip("disk_full", "tmpfs cannot be mounted here");
    };
    let s = env.start();
    s.create_user("alice", "password", false);
    let auth = Auth::token(&s.token("alice", "ci", "write:package"));
    let small = file_path("alice", "app", "1.0", "small.bin");
    let medium = file_path("alice", "app", "1.0", "medium.bin");
    let medium_body = vec![5u8; 2 << 20];
    assert_eq!(s.put(&small, b"small", &auth).status, 201);
    assert_eq!(s.put(&medium, &medium_body, &auth).status, 201);

    // Larger than the whole file system.
    let huge = vec![9u8; 40 << 20];
    let r = put_raw(
        &s,
        &file_path("alice", "app", "1.0", "huge.bin"),
        &auth,
        huge,
    );
    assert_eq!(r.status, 507, "{}", r.text());
    assert!(r.text().contains("insufficient storage"), "{}", r.text());
    assert!(
        temp_files(&s).is_empty(),
        "temporary file left: {:?}",
        temp_files(&s)
    );

    // Now with the disk full to the last byte.
    let filler = fill(s.data_dir());
    for (i, size) in [10usize, 100_000, 1 << 20].into_iter().enumerate() {
        let path = file_path("alice", "app", "2.0", &format!("{i}.bin"));
        let r = put_raw(&s, &path, &auth, vec![1u8; size]);
        assert_eq!(r.status, 507, "{size} bytes on a full disk: {}", r.text());
        assert!(r.text().contains("insufficient storage"), "{}", r.text());
    }
    assert!(temp_files(&s).is_empty());
    assert_eq!(s.get(&small, &ANON).body, b"small");
    assert!(s.get(&medium, &ANON).body == medium_body);
    assert_eq!(s.get("/api/healthz", &ANON).status, 200);

    std::fs::remove_file(filler).expect("free space");
    let again = file_path("alice", "app", "2.0", "again.bin");
    let r = s.put(&again, &medium_body, &auth);
    assert_eq!(r.status, 201, "{}", r.describe());
    assert!(s.get(&again, &ANON).body == medium_body);
    eventually("no content without a row", Duration::from_secs(5), || {
        content_files(&s).len() == 2
    });
    assert_consistent(&s);
    drop(s);
    drop(mount);
}

//! Resumable uploads with tuspy, the tus protocol's Python client, unmodified: 200 MiB in
//! chunks, the client killed mid-transfer and resumed by a new process from its stored URL,
//! the server restarted between chunks, and the published file compared byte for byte.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forge_e2e::pypi::{text, venv_bin};
use forge_e2e::{Backend, TestServer};

use crate::common::*;

const SIZE: usize = 200 << 20;
const CHUNK: usize = 16 << 20;

fn driver() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python/tus_client.py")
}

/// 200 MiB that differ in every MiB, written without holding them twice.
fn write_file(path: &Path) {
    let block = crate::resumable::content(1 << 20);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    for i in 0..SIZE >> 20 {
        let mut b = block.clone();
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
        file.write_all(&b).expect("write");
    }
    file.flush().expect("flush");
}

fn tus(bin: &Path, s: &TestServer, file: &Path, store: &Path, stop_at: Option<usize>) -> Command {
    let mut cmd = Command::new(bin.join("python"));
    cmd.arg(driver())
        .arg(s.url(&forge_e2e::file_path(OWNER, "big", "1.0", "big.bin")))
        .arg(file)
        .arg(store)
        .arg(user2().header_value().expect("credentials"))
        .arg(CHUNK.to_string());
    if let Some(stop) = stop_at {
        cmd.arg(stop.to_string());
    }
    cmd
}

/// The offset the server has recorded for the one upload in progress.
fn recorded_offset(s: &TestServer) -> Option<i64> {
    s.db()
        .expired_resumables(i64::MAX, 10)
        .expect("uploads")
        .first()
        .map(|u| u.upload_offset)
}

fn tuspy_resumes_after_kill_and_restart(backend: Backend) {
    let Some(bin) = venv_bin() else {
        println!("skipped: tuspy not installed (run through make test)");
        return;
    };
    let mut s = TestServer::start_with(backend, |c| {
        // The stored upload URL names the port: the restarted server keeps it.
        c.server.listen = format!("127.0.0.1:{}", forge_e2e::free_port());
    });
    with_user2(&s);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("big.bin");
    write_file(&file);
    let store = dir.path().join("urls.json");

    // The first client is killed while it sends a chunk.
    let mut first = tus(&bin, &s, &file, &store, None)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tuspy");
    let started = Instant::now();
    while recorded_offset(&s).is_none_or(|o| o < 3 * CHUNK as i64) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "tuspy made no progress"
        );
        assert!(
            first.try_wait().expect("wait").is_none(),
            "tuspy ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The client sends chunk after chunk: one is on its way now.
    first.kill().expect("kill tuspy");
    first.wait().expect("reap tuspy");
    let killed_at = recorded_offset(&s).expect("the upload survives the kill") as usize;
    assert!(killed_at < SIZE - 4 * CHUNK, "killed too late: {killed_at}");

    // A new client resumes from the stored URL and stops between two chunks.
    let middle = killed_at + 2 * CHUNK + 12_345;
    let out = tus(&bin, &s, &file, &store, Some(middle))
        .output()
        .expect("run tuspy");
    assert!(out.status.success(), "resumed tuspy: {}", text(&out));
    let reached: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    assert_eq!(reached["offset"], middle, "{}", text(&out));

    // The server restarts between chunks; the next client finishes.
    s.restart();
    let out = tus(&bin, &s, &file, &store, None)
        .output()
        .expect("run tuspy");
    assert!(out.status.success(), "tuspy after restart: {}", text(&out));
    let done: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    assert_eq!(done["offset"], SIZE, "{}", text(&out));
    assert_eq!(done["url"], reached["url"], "one upload from start to end");

    let r = s.get(
        &forge_e2e::file_path(OWNER, "big", "1.0", "big.bin"),
        &user2(),
    );
    status(&r, 200);
    let original = std::fs::read(&file).expect("read the file");
    assert!(
        r.body == original,
        "the published file differs from the uploaded one"
    );
    assert!(recorded_offset(&s).is_none(), "the upload's row is gone");
}

forge_e2e::backends!(tuspy_resumes_after_kill_and_restart);
forge_e2e::s3_backend!(tuspy_resumes_after_kill_and_restart);

//! The S3 store against a real S3 server (SeaweedFS, `weed` on PATH as scripts/test-env.sh
//! puts it): uploads of several parts sent at once, and reads of content larger than a
//! read-ahead part, whole and by ranges, byte for byte, with the failures either must report
//! instead of ending early or hanging. Skipped without `weed` unless FORGE_TEST_REQUIRE_S3=1.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod common;

use packages_core::{BlobReader, BlobStore, StorageError};
use packages_storage::s3::SecretKey;
use packages_storage::{S3BlobStore, S3Settings};

const KEY: &str = "forge-storage-test";
const SECRET: &str = "forge-storage-secret";
const BUCKET: &str = "reads";
const MIB: u64 = 1 << 20;

/// The tests count this process's threads by name: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A `weed mini` killed on drop.
struct Weed {
    child: Child,
    endpoint: String,
}

impl Drop for Weed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_weed(dir: &Path) -> Result<Weed, String> {
    let s3 = free_port();
    let mut cmd = Command::new("weed");
    cmd.arg("mini")
        .arg(format!("-dir={}", dir.display()))
        .arg(format!("-bucket={BUCKET}"))
        .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3.port.lance=0"])
        .arg(format!("-s3.port={s3}"));
    for flag in [
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
        "webdav.port",
        "s3.port.iceberg",
    ] {
        cmd.arg(format!("-{flag}={}", free_port()));
    }
    let child = cmd
        .env("AWS_ACCESS_KEY_ID", KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run weed: {e}"))?;
    Ok(Weed {
        child,
        endpoint: format!("http://127.0.0.1:{s3}"),
    })
}

fn store(weed: &Weed) -> S3BlobStore {
    let settings = S3Settings {
        endpoint: weed.endpoint.clone(),
        bucket: BUCKET.to_owned(),
        region: "us-east-1".to_owned(),
        access_key_id: KEY.to_owned(),
        secret_access_key: SecretKey::new(SECRET),
        path_style: true,
        prefix: "t/".to_owned(),
    };
    let store = S3BlobStore::new(&settings).expect("settings");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match store.probe() {
            Ok(()) => return store,
            Err(e) if Instant::now() > deadline => panic!("SeaweedFS did not start: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn content(len: u64, seed: u64) -> Vec<u8> {
    common::content(len as usize, seed)
}

fn put(store: &S3BlobStore, data: &[u8]) -> String {
    let mut pending = store.begin().expect("begin");
    pending.write_all(data).expect("write");
    let stored = store.persist(pending, "").expect("persist");
    let key = stored.key().to_owned();
    stored.confirm(true).expect("confirm");
    key
}

fn open(
    store: &S3BlobStore,
    key: &str,
    range: Option<std::ops::Range<u64>>,
) -> (Box<dyn Read + Send>, u64) {
    match store.open(key, range.clone()) {
        Ok(BlobReader::Stream(reader, len)) => (reader, len),
        Ok(other) => panic!("{other:?} for {range:?}"),
        Err(e) => panic!("open {range:?}: {e}"),
    }
}

fn read(store: &S3BlobStore, key: &str, range: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let (mut reader, len) = open(store, key, range.clone());
    let mut out = Vec::new();
    // The chunk size the HTTP layer reads with.
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = reader
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("read {range:?}: {e}"));
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert_eq!(out.len() as u64, len, "{range:?}");
    out
}

/// Reads to the end or the first error; the error, if any.
fn read_err(reader: &mut dyn Read) -> Option<std::io::Error> {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return None,
            Ok(_) => {}
            Err(e) => return Some(e),
        }
    }
}

fn read_ahead_threads() -> usize {
    threads_named("s3-read-ahead")
}

fn wait_for_no_workers() {
    let deadline = Instant::now() + Duration::from_secs(10);
    while read_ahead_threads() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(read_ahead_threads(), 0, "read-ahead workers left running");
}

/// A SeaweedFS in `dir`, or `None` (the test skips) when `weed` cannot run and S3 is not
/// required.
fn weed_or_skip(dir: &Path) -> Option<Weed> {
    match start_weed(dir) {
        Ok(weed) => Some(weed),
        Err(e) if std::env::var("FORGE_TEST_REQUIRE_S3").is_ok_and(|v| v.trim() == "1") => {
            panic!("FORGE_TEST_REQUIRE_S3=1 but {e}")
        }
        Err(e) => {
            println!("skipped: no SeaweedFS ({e})");
            None
        }
    }
}

/// Threads of this process named `name`.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name)
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn uploads_send_parts_at_once_and_arrive_whole() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(weed) = weed_or_skip(dir.path()) else {
        return;
    };
    let store = store(&weed);

    // Six parts and a bit, written in pieces that do not line up with the parts. Filling a
    // part in memory is far quicker than sending it, so the upload sends several at once,
    // never more than three.
    let len = 48 * MIB + 777;
    let data = content(len, 3);
    let mut pending = store.begin().expect("begin");
    let mut most = 0;
    for piece in data.chunks(3 * MIB as usize + 11) {
        pending.write_all(piece).expect("write");
        most = most.max(threads_named("s3-parts"));
    }
    assert!(most >= 2, "one part at a time ({most} sender threads)");
    assert!(most <= 3, "{most} parts sent at once");
    let stored = store.persist(pending, "").expect("persist");
    let key = stored.key().to_owned();
    stored.confirm(true).expect("confirm");
    assert_eq!(threads_named("s3-parts"), 0, "sender threads left running");
    assert_eq!(store.object_len(&key).expect("head"), Some(len));
    assert!(
        read(&store, &key, None) == data,
        "the parts came back out of order"
    );
    assert_eq!(store.unfinished_uploads().expect("list"), 0);

    // An upload dropped half-way (the request failed) leaves no parts behind.
    let mut pending = store.begin().expect("begin");
    pending
        .write_all(&data[..20 * MIB as usize])
        .expect("write");
    drop(pending);
    assert_eq!(threads_named("s3-parts"), 0, "sender threads left running");
    assert_eq!(store.unfinished_uploads().expect("list"), 0);

    // The store going away during an upload fails it, without hanging.
    let mut pending = store.begin().expect("begin");
    pending
        .write_all(&data[..16 * MIB as usize])
        .expect("write");
    drop(weed);
    let failed = data[16 * MIB as usize..]
        .chunks(MIB as usize)
        .map(|piece| pending.write_all(piece))
        .any(|written| written.is_err());
    assert!(
        failed || store.persist(pending, "").is_err(),
        "an upload cut off by an outage succeeded"
    );
    assert_eq!(threads_named("s3-parts"), 0, "sender threads left running");
}

#[test]
fn large_reads_come_whole_and_by_range() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(weed) = weed_or_skip(dir.path()) else {
        return;
    };
    let store = store(&weed);

    // Five and a bit parts of 8 MiB.
    let len = 40 * MIB + 12_345;
    let data = content(len, 7);
    let key = put(&store, &data);
    assert!(read(&store, &key, None) == data, "whole object");
    for range in [
        0..len,
        1..len - 1,
        3..3 + 20 * MIB,
        8 * MIB - 1..16 * MIB + 1,
        len - 9 * MIB..len,
        // One part or less: a single GET.
        8 * MIB - 1..8 * MIB + 1,
        len - 10..len,
        0..8 * MIB,
        5..5,
    ] {
        let got = read(&store, &key, Some(range.clone()));
        assert!(
            got == data[range.start as usize..range.end as usize],
            "{range:?}"
        );
    }
    wait_for_no_workers();

    // Small and empty objects asked for whole.
    for small in [0, 1, 100, 8 * MIB, 8 * MIB + 1] {
        let data = content(small, small + 1);
        let key = put(&store, &data);
        assert!(read(&store, &key, None) == data, "{small} bytes");
    }

    // Asking past the end is an error, never fewer bytes.
    for range in [0..len + 5, len - 5..len + 5, 9 * MIB..len + 20 * MIB] {
        match store.open(&key, Some(range.clone())) {
            Err(_) => {}
            Ok(BlobReader::Stream(mut reader, _)) => {
                assert!(
                    read_err(&mut reader).is_some(),
                    "{range:?} read without error"
                )
            }
            Ok(other) => panic!("{other:?}"),
        }
    }

    // A reader dropped after a few bytes stops its workers.
    let (mut reader, _) = open(&store, &key, None);
    let mut buf = [0u8; 1000];
    reader.read_exact(&mut buf).expect("first bytes");
    assert!(read_ahead_threads() > 0, "no read-ahead for a large object");
    drop(reader);
    wait_for_no_workers();

    // An object replaced during a read (same length, other bytes) fails the read.
    let digest_key = "ab".repeat(32);
    store.put_by_digest(&digest_key, &data).expect("put");
    let (mut reader, _) = open(&store, &digest_key, None);
    reader.read_exact(&mut buf).expect("first bytes");
    store
        .put_by_digest(&digest_key, &content(len, 99))
        .expect("replace");
    let err = read_err(&mut reader).expect("a replaced object fails the read");
    assert!(err.to_string().contains("changed"), "{err}");
    drop(reader);

    // The store going away during a read fails it.
    let (mut reader, _) = open(&store, &key, None);
    reader.read_exact(&mut buf).expect("first bytes");
    drop(weed);
    assert!(
        read_err(&mut reader).is_some(),
        "a read cut off by an outage ended without error"
    );
    drop(reader);
    wait_for_no_workers();
    assert!(matches!(
        store.open(&key, None),
        Err(StorageError::Unavailable(_))
    ));
}

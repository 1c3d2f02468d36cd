//! Database outages: PostgreSQL stopped while serving, SQLite's write lock held by another
//! process, SQLite's files made unwritable. Requests answer 503 with a message within
//! seconds, reads that can be served are, nothing is half-written, and the registry works
//! again once the database does, without a restart.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use forge_e2e::{file_path, read_final_response, Auth, TestEnv, TestServer, ANON};

use crate::support::*;

const QUICK: Duration = Duration::from_secs(2);

fn alice(s: &TestServer) -> Auth {
    s.create_user("alice", "password", false);
    Auth::token(&s.token("alice", "ci", "write:package"))
}

pub fn postgres_outage() {
    let Some(pg) = PgCluster::start() else {
        return skip("postgres_outage", "PostgreSQL is not installed");
    };
    let mut env = TestEnv::on_postgres(&pg.url());
    // Every request goes to the database, as the first request after a restart would.
    env.config.cache.read_ttl = Duration::ZERO;
    env.config.database.download_count_flush = Duration::from_millis(200);
    let s = env.start();
    let auth = alice(&s);
    let small = file_path("alice", "app", "1.0", "a.bin");
    let body = vec![7u8; 1 << 20];
    assert_eq!(s.put(&small, b"hello", &auth).status, 201);

    // An upload in flight when the database goes away.
    let in_flight = file_path("alice", "app", "1.0", "in-flight.bin");
    let mut stream = s.connect();
    let head = format!(
        "PUT {in_flight} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        auth.header_value().unwrap_or_default(),
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream
        .write_all(&body[..1000])
        .expect("send part of the body");
    std::thread::sleep(Duration::from_millis(300));
    pg.stop();
    stream.write_all(&body[1000..]).expect("send the rest");
    let (r, took) = timed(|| read_final_response(&mut stream, Duration::from_secs(30)));
    let (_, r) = r.expect("an answer to the upload in flight");
    assert_eq!(r.status, 503, "upload in flight: {}", r.text());
    assert!(took <= QUICK, "upload in flight answered after {took:?}");

    answered(
        "healthz",
        &timed(|| s.get("/api/healthz", &ANON)),
        503,
        QUICK,
    );
    let r = timed(|| s.put(&file_path("alice", "app", "1.0", "b.bin"), b"x", &auth));
    answered("small upload", &r, 503, QUICK);
    assert!(
        r.0.text().contains("database unavailable"),
        "{}",
        r.0.text()
    );
    let r = timed(|| s.put(&file_path("alice", "app", "1.0", "c.bin"), &body, &auth));
    answered("large upload", &r, 503, QUICK);
    answered("download", &timed(|| s.get(&small, &ANON)), 503, QUICK);
    answered(
        "download with a token",
        &timed(|| s.get(&small, &auth)),
        503,
        QUICK,
    );
    answered(
        "package list",
        &timed(|| s.get("/api/v1/packages/alice", &auth)),
        503,
        QUICK,
    );
    assert!(
        temp_files(&s).is_empty(),
        "temporary files during the outage"
    );

    pg.resume();
    eventually(
        "health after the database returns",
        Duration::from_secs(10),
        || s.get("/api/healthz", &ANON).status == 200,
    );
    assert_eq!(s.get(&small, &ANON).body, b"hello");
    assert_eq!(
        s.put(&file_path("alice", "app", "1.0", "b.bin"), b"again", &auth)
            .status,
        201
    );
    assert_eq!(s.get("/api/v1/packages/alice", &auth).status, 200);
    // The content of the upload that failed goes once the database can say it is unused.
    eventually("no content without a row", Duration::from_secs(10), || {
        content_files(&s).len() == 2
    });
    assert_consistent(&s);
}

/// Another process (as a backup tool or a shell would) holding SQLite's write lock.
struct LockHolder(Child);

impl LockHolder {
    fn take(db: &std::path::Path) -> LockHolder {
        let script = "import sqlite3, sys\n\
            c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n\
            c.execute('BEGIN IMMEDIATE')\n\
            print('locked', flush=True)\n\
            sys.stdin.read()\n";
        let mut child = Command::new("python3")
            .args(["-c", script])
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3 to hold the lock");
        let mut out = child.stdout.take().expect("stdout");
        let mut line = [0u8; 7];
        std::io::Read::read_exact(&mut out, &mut line).expect("lock taken");
        assert_eq!(&line, b"locked\n");
        LockHolder(child)
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn sqlite_locked() {
    let s = TestServer::start_with(forge_e2e::Backend::Sqlite, |c| {
        c.database.download_count_flush = Duration::from_millis(200);
    });
    let auth = alice(&s);
    let fresh = Auth::token(&s.token("alice", "never-used", "read:package"));
    let small = file_path("alice", "app", "1.0", "a.bin");
    assert_eq!(s.put(&small, b"hello", &auth).status, 201);

    let holder = LockHolder::take(&s.data_dir().join("forge.db"));
    let within = Duration::from_secs(4);
    let r = timed(|| s.put(&file_path("alice", "app", "1.0", "b.bin"), b"x", &auth));
    answered("small upload", &r, 503, within);
    assert!(r.0.text().contains("locked"), "{}", r.0.text());
    let big = vec![3u8; 300_000];
    let r = timed(|| s.put(&file_path("alice", "app", "1.0", "c.bin"), &big, &auth));
    answered("large upload", &r, 503, within);
    // Several writers at once still answer within the bound, not one after another.
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let (base, header) = (s.base.clone(), auth.header_value().unwrap_or_default());
            std::thread::spawn(move || {
                let url = format!(
                    "{base}{}",
                    file_path("alice", "app", "2.0", &format!("{i}.bin"))
                );
                timed(|| {
                    match ureq::put(&url)
                        .set("Authorization", &header)
                        .send_bytes(b"x")
                    {
                        Ok(r) => r.status(),
                        Err(ureq::Error::Status(code, _)) => code,
                        Err(e) => panic!("transport: {e}"),
                    }
                })
            })
        })
        .collect();
    for w in writers {
        let (code, took) = w.join().expect("writer");
        assert_eq!(code, 503);
        assert!(
            took <= Duration::from_secs(7),
            "a queued writer waited {took:?}"
        );
    }
    // Reads never wait for a write: a token used for the first time, anonymous downloads,
    // listings and health.
    let quick = Duration::from_millis(1000);
    answered(
        "download, new token",
        &timed(|| s.get(&small, &fresh)),
        200,
        quick,
    );
    answered("download", &timed(|| s.get(&small, &ANON)), 200, quick);
    answered(
        "healthz",
        &timed(|| s.get("/api/healthz", &ANON)),
        200,
        quick,
    );
    answered(
        "package list",
        &timed(|| s.get("/api/v1/packages/alice", &auth)),
        200,
        quick,
    );
    assert!(temp_files(&s).is_empty());

    drop(holder);
    let r = s.put(&file_path("alice", "app", "1.0", "b.bin"), b"x", &auth);
    assert_eq!(r.status, 201, "{}", r.describe());
    assert_eq!(s.get(&small, &fresh).body, b"hello");
    eventually("no content without a row", Duration::from_secs(5), || {
        content_files(&s).len() == 2
    });
    assert_consistent(&s);
}

fn chattr(flag: &str, paths: &[std::path::PathBuf]) {
    let status = Command::new("chattr")
        .arg(flag)
        .args(paths.iter().filter(|p| p.exists()))
        .status()
        .expect("run chattr");
    assert!(status.success(), "chattr {flag} failed");
}

/// Undoes `chattr +i` even when the case fails, so the directory can be removed.
struct Immutable(Vec<std::path::PathBuf>);

impl Drop for Immutable {
    fn drop(&mut self) {
        chattr("-i", &self.0);
    }
}

pub fn sqlite_unwritable() {
    if !is_root() {
        return skip("sqlite_unwritable", "chattr +i needs root");
    }
    let s = TestServer::start_with(forge_e2e::Backend::Sqlite, |c| {
        c.database.download_count_flush = Duration::from_millis(200);
    });
    let auth = alice(&s);
    let small = file_path("alice", "app", "1.0", "a.bin");
    assert_eq!(s.put(&small, b"hello", &auth).status, 201);
    let data = s.data_dir().to_path_buf();
    // Not the shared-memory index: SQLite maps it, and a mapped page that cannot be written
    // is a SIGBUS, not an error.
    let files: Vec<_> = ["forge.db", "forge.db-wal"]
        .iter()
        .map(|f| data.join(f))
        .collect();
    let mut locked = files.clone();
    locked.push(data.clone());
    chattr("+i", &locked);
    let guard = Immutable(locked);

    let within = Duration::from_secs(4);
    let r = timed(|| s.put(&file_path("alice", "app", "1.0", "b.bin"), b"x", &auth));
    answered("upload", &r, 503, within);
    answered("download", &timed(|| s.get(&small, &ANON)), 200, within);
    answered(
        "healthz",
        &timed(|| s.get("/api/healthz", &ANON)),
        200,
        within,
    );

    drop(guard);
    let r = s.put(&file_path("alice", "app", "1.0", "b.bin"), b"x", &auth);
    assert_eq!(r.status, 201, "{}", r.describe());
    assert_consistent(&s);
}

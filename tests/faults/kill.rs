//! `kill -9` of the real binary during 30 concurrent uploads of mixed sizes, then a restart
//! on the same data: every upload answered 201 downloads byte-exact, every listed file
//! downloads and matches its listed digests, and after the start-up sweep no content is
//! without a row and no upload is left in progress (temporary file or S3 multipart upload).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use forge_e2e::{
    file_path, free_port, server_binary, sha256_hex, wait_until, Backend, TestEnv, ANON,
};
use serde_json::Value;

use crate::hostile::Rng;
use crate::support::*;

/// Uploads per round, and rounds (each ends in a kill).
pub const UPLOADS: usize = 30;
pub const ROUNDS: usize = 2;

const SIZES: &[usize] = &[1_000, 65_537, 300_000, 1 << 20, 3 << 20];
/// On S3, some uploads span several parts, so the kill leaves multipart uploads behind.
const S3_SIZES: &[usize] = &[1_000, 300_000, 3 << 20, 20 << 20];

/// The content of upload `i` of round `round`: its size from `sizes`, bytes from a seed.
fn content(sizes: &[usize], round: usize, i: usize) -> Vec<u8> {
    let mut rng = Rng::new((round * 1000 + i + 1) as u64);
    let size = sizes[i % sizes.len()];
    (0..size).map(|_| rng.next() as u8).collect()
}

/// Unfinished multipart uploads in the test's bucket and prefix.
fn unfinished_multipart_uploads(env: &TestEnv) -> usize {
    let settings = forge_server::storage::s3_settings(&env.config).expect("S3 settings");
    packages_storage::S3BlobStore::new(&settings)
        .expect("S3 client")
        .unfinished_uploads()
        .expect("list multipart uploads")
}

/// The server as a child process; killed (SIGKILL) on drop.
struct Server {
    child: Child,
    base: String,
    port: u16,
}

impl Server {
    fn spawn(env: &TestEnv) -> Server {
        let port = free_port();
        let mut cmd = Command::new(server_binary());
        cmd.arg("serve")
            .env("FORGE_DATA_DIR", &env.config.server.data_dir)
            .env("FORGE_LISTEN", format!("127.0.0.1:{port}"))
            .env("FORGE_BCRYPT_COST", "4")
            .env("FORGE_WORKERS", "2")
            .env("FORGE_DB_POOL_SIZE", "8")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if env.backend == Backend::S3 {
            let s3 = &env.config.storage.s3;
            cmd.env("FORGE_STORAGE_TYPE", "s3")
                .env("FORGE_STORAGE_S3_ENDPOINT", &s3.endpoint)
                .env("FORGE_STORAGE_S3_BUCKET", &s3.bucket)
                .env("FORGE_STORAGE_S3_ACCESS_KEY_ID", &s3.access_key_id)
                .env(
                    "FORGE_STORAGE_S3_SECRET_ACCESS_KEY",
                    s3.secret_access_key.expose(),
                )
                .env("FORGE_STORAGE_S3_PREFIX", &s3.prefix);
        }
        let url = env.config.database.url.expose();
        if url.is_empty() {
            cmd.env_remove("FORGE_DATABASE_URL");
        } else {
            cmd.env("FORGE_DATABASE_URL", url);
        }
        let child = cmd.spawn().expect("start forge-server");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            port,
        };
        eventually("the server answers", Duration::from_secs(30), || {
            ureq::get(&format!("{}/api/healthz", server.base))
                .call()
                .is_ok()
        });
        server
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Uploads over a raw socket in pieces, so the kill finds uploads at every stage. Returns
/// the status when a complete answer arrived.
fn upload(port: u16, token: &str, path: &str, body: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: token {token}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    for piece in body.chunks(64 * 1024) {
        stream.write_all(piece).ok()?;
        std::thread::sleep(Duration::from_millis(4));
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let line = String::from_utf8_lossy(&answer);
    line.split_whitespace().nth(1)?.parse().ok()
}

fn get_json(base: &str, path: &str, token: &str) -> Value {
    let r = ureq::get(&format!("{base}{path}"))
        .set("Authorization", &format!("token {token}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let mut body = Vec::new();
    r.into_reader().read_to_end(&mut body).expect("body");
    serde_json::from_slice(&body).expect("JSON")
}

fn download(base: &str, path: &str) -> Vec<u8> {
    let r = ureq::get(&format!("{base}{path}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let mut bytes = Vec::new();
    r.into_reader().read_to_end(&mut bytes).expect("body");
    bytes
}

/// Checks every listed file against its listed digests; returns how many were checked.
fn check_listed_files(base: &str, token: &str) -> usize {
    let versions = get_json(base, "/api/v1/packages/alice?limit=1000", token);
    let mut checked = 0;
    for v in versions.as_array().expect("versions") {
        let version = v["version"].as_str().expect("version");
        let files = get_json(
            base,
            &format!("/api/v1/packages/alice/generic/app/{version}/files"),
            token,
        );
        for f in files.as_array().expect("files") {
            let name = f["name"].as_str().expect("name");
            let bytes = download(base, &file_path("alice", "app", version, name));
            assert_eq!(sha256_hex(&bytes), f["sha256"], "{version}/{name}");
            assert_eq!(bytes.len() as u64, f["Size"].as_u64().expect("Size"));
            checked += 1;
        }
    }
    checked
}

/// Figures of one run.
#[derive(Debug, Default)]
pub struct Figures {
    pub acknowledged: usize,
    pub files_checked: usize,
    /// S3 only: multipart uploads the kills left for the restart to abort.
    pub multipart_uploads_left: usize,
}

pub fn kill_during_uploads(backend: Backend) -> Figures {
    let mut env = TestEnv::new(backend);
    // The start-up sweep may then remove at once what no row refers to.
    env.config.cleanup.blob_grace_period = Duration::ZERO;
    forge_server::admin::create_user(&env.config, "alice", "password", "a@example.com", false)
        .expect("create user");
    let token =
        forge_server::admin::generate_access_token(&env.config, "alice", "ci", "write:package")
            .expect("token");
    let mut figures = Figures::default();
    let mut acknowledged: Vec<(String, Vec<u8>)> = Vec::new();
    for round in 0..ROUNDS {
        let server = Server::spawn(&env);
        let start = Arc::new(Barrier::new(UPLOADS + 1));
        let workers: Vec<_> = (0..UPLOADS)
            .map(|i| {
                let (start, token, port) = (start.clone(), token.clone(), server.port);
                let sizes = if backend == Backend::S3 {
                    S3_SIZES
                } else {
                    SIZES
                };
                std::thread::spawn(move || {
                    let body = content(sizes, round, i);
                    let path = file_path(
                        "alice",
                        "app",
                        &format!("{round}.{}", i % 3),
                        &format!("f{i}.bin"),
                    );
                    start.wait();
                    let status = upload(port, &token, &path, &body);
                    (path, body, status)
                })
            })
            .collect();
        start.wait();
        // Some uploads are done by now, the large ones are still streaming.
        std::thread::sleep(Duration::from_millis(600));
        if backend == Backend::S3 {
            // Until the large ones have sent their first part.
            wait_until(Duration::from_secs(10), || {
                unfinished_multipart_uploads(&env) > 0
            });
        }
        server.kill();
        if backend == Backend::S3 {
            figures.multipart_uploads_left += unfinished_multipart_uploads(&env);
        }
        for w in workers {
            let (path, body, status) = w.join().expect("upload thread");
            if status == Some(201) {
                acknowledged.push((path, body));
            }
        }
        let server = Server::spawn(&env);
        for (path, body) in &acknowledged {
            assert!(
                download(&server.base, path) == *body,
                "{path} differs after the kill"
            );
        }
        figures.files_checked += check_listed_files(&server.base, &token);
        server.kill();
    }
    figures.acknowledged = acknowledged.len();
    if backend == Backend::S3 {
        assert!(
            figures.multipart_uploads_left > 0,
            "no kill caught a multipart upload in flight"
        );
    }
    // The last restart, in process so the store and the database can be compared.
    let s = env.start();
    for (path, body) in &acknowledged {
        assert!(s.get(path, &ANON).body == *body, "{path} differs");
    }
    // The start-up sweep removes what the killed uploads left.
    assert!(
        wait_until(Duration::from_secs(10), || is_consistent(&s)),
        "the killed process left {} uploads in progress",
        leftovers(&s)
    );
    assert_consistent(&s);
    println!("kill -9 on {backend:?}: {figures:?}");
    figures
}

//! Slow clients: connections trickling an upload's body or reading a download a byte a
//! second do not delay anyone else (p99 of a concurrent small GET stays under 50 ms), and
//! are cut after the idle timeout: the upload with 408, the download by closing it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use forge_e2e::{file_path, Auth, Backend, TestServer, ANON};

use crate::support::*;

/// Slow connections of each kind.
pub const SLOW_UPLOADS: usize = 25;
pub const SLOW_DOWNLOADS: usize = 25;
/// Small GETs timed while they hang on.
pub const PROBES: usize = 300;
const IDLE: Duration = Duration::from_secs(3);

/// A receive buffer that keeps what a stalled reader holds small (the download must be
/// larger than all buffers on the way to stall) while draining the rest stays quick.
fn modest_receive_buffer(stream: &TcpStream) {
    let size: libc::c_int = 256 * 1024;
    // SAFETY: a valid socket and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Reads what is left until the server closes; true when it did within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < deadline {
        let _ = stream.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ));
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
    false
}

/// The p99 of `samples`.
fn p99(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

#[derive(Debug, Default)]
pub struct Figures {
    pub p99: Duration,
    pub uploads_cut: usize,
    pub downloads_cut: usize,
}

pub fn slow_clients(backend: Backend) -> Figures {
    let s = TestServer::start_with(backend, |c| {
        c.server.idle_timeout = IDLE;
        c.server.workers = 2;
    });
    s.create_user("alice", "password", false);
    let token = s.token("alice", "ci", "write:package");
    let auth = Auth::token(&token);
    let big = file_path("alice", "app", "1.0", "big.bin");
    let small = file_path("alice", "app", "1.0", "small.bin");
    assert_eq!(s.put(&big, &vec![7u8; 24 << 20], &auth).status, 201);
    assert_eq!(s.put(&small, b"small", &auth).status, 201);

    let stop = Arc::new(AtomicBool::new(false));
    let mut uploads = Vec::new();
    for i in 0..SLOW_UPLOADS {
        let mut stream = s.connect();
        let path = file_path("alice", "app", "2.0", &format!("slow{i}.bin"));
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: token {token}\r\nContent-Length: 1000000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("send head");
        let mut writer = stream.try_clone().expect("clone");
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && writer.write_all(b"x").is_ok() {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        uploads.push(stream);
    }
    let mut downloads = Vec::new();
    for _ in 0..SLOW_DOWNLOADS {
        let mut stream = s.connect();
        modest_receive_buffer(&stream);
        stream
            .write_all(format!("GET {big} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .expect("send request");
        let mut reader = stream.try_clone().expect("clone");
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut byte = [0u8; 1];
            while !stop.load(Ordering::Relaxed) && matches!(reader.read(&mut byte), Ok(1)) {
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        downloads.push(stream);
    }
    std::thread::sleep(Duration::from_millis(300));

    // Everyone else is served as usual meanwhile.
    let mut samples = Vec::with_capacity(PROBES);
    let started = Instant::now();
    for _ in 0..PROBES {
        let (r, took) = timed(|| s.get(&small, &ANON));
        assert_eq!(r.status, 200);
        samples.push(took);
    }
    assert!(
        started.elapsed() < IDLE,
        "probing took longer than the idle timeout"
    );
    let mut figures = Figures {
        p99: p99(&mut samples),
        ..Figures::default()
    };
    assert!(
        figures.p99 < Duration::from_millis(50),
        "p99 of small GETs beside slow clients: {:?}",
        figures.p99
    );

    // The slow ones are cut after the idle timeout.
    let limit = IDLE + Duration::from_secs(6);
    for mut stream in uploads {
        match forge_e2e::read_final_response(&mut stream, limit) {
            Ok((_, r)) => {
                assert_eq!(r.status, 408, "{}", r.text());
                figures.uploads_cut += 1;
            }
            Err(e) => panic!("a trickling upload was not cut: {e}"),
        }
    }
    for mut stream in downloads {
        assert!(
            closed_within(&mut stream, limit),
            "a stalled download was not cut"
        );
        figures.downloads_cut += 1;
    }
    stop.store(true, Ordering::Relaxed);
    assert_eq!(s.get("/api/healthz", &ANON).status, 200);
    eventually("no temporary file", Duration::from_secs(5), || {
        temp_files(&s).is_empty()
    });
    assert!(s.stored_version("alice", "app", "2.0").is_none());
    println!("slow clients on {backend:?}: {figures:?}");
    figures
}

//! Storms of client aborts: connections cut at random points of uploads (in the middle of
//! the request line or headers, in the body) and of downloads, some closed politely, some
//! reset. Nothing is left behind and the server serves on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use forge_e2e::{file_path, Auth, Backend, TestServer, ANON};

use crate::hostile::Rng;
use crate::support::*;

/// Connections cut per run.
pub const ABORTS: usize = 400;

/// Closes with a reset instead of a FIN, as a crashed client or a middlebox would.
fn reset(stream: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

pub fn abort_storm(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("alice", "password", false);
    let token = s.token("alice", "ci", "write:package");
    let auth = Auth::token(&token);
    let kept = file_path("alice", "app", "1.0", "kept.bin");
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(s.put(&kept, &big, &auth).status, 201);

    let addr = s.addr;
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let token = token.clone();
            let kept = kept.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(t + 7);
                for i in 0..ABORTS / 4 {
                    let Ok(mut stream) = TcpStream::connect(addr) else {
                        continue;
                    };
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    if rng.below(3) == 0 {
                        // A download read partly, then dropped.
                        let req = format!("GET {kept} HTTP/1.1\r\nHost: x\r\n\r\n");
                        let _ = stream.write_all(req.as_bytes());
                        let mut buf = vec![0u8; 1 + rng.below(200_000)];
                        let _ = stream.read(&mut buf);
                    } else {
                        let size = *rng.pick(&[10usize, 70_000, 1_500_000]);
                        let path = file_path("alice", "app", "2.0", &format!("t{t}-{i}.bin"));
                        let mut req = format!(
                            "PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: token {token}\r\nContent-Length: {size}\r\n\r\n"
                        )
                        .into_bytes();
                        req.extend((0..size).map(|b| b as u8));
                        // Cut anywhere before the end: in the request line, the headers or
                        // the body.
                        let cut = rng.below(req.len() - 1);
                        for piece in req[..cut].chunks(256 * 1024) {
                            if stream.write_all(piece).is_err() {
                                break;
                            }
                        }
                    }
                    if rng.below(2) == 0 {
                        reset(stream);
                    } else {
                        drop(stream);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("abort thread");
    }
    assert_eq!(s.get("/api/healthz", &ANON).status, 200);
    assert!(s.get(&kept, &ANON).body == big, "the stored file changed");
    eventually(
        "no temporary file after the aborts",
        Duration::from_secs(10),
        || leftovers(&s) == 0,
    );
    // Nothing cut short was recorded.
    assert!(s.stored_version("alice", "app", "2.0").is_none());
    let after = file_path("alice", "app", "3.0", "after.bin");
    assert_eq!(s.put(&after, &big, &auth).status, 201);
    assert_consistent(&s);
}

//! Native TLS: HTTPS with a self-signed certificate through curl and a rustls client, HTTP/2
//! over ALPN, a certificate reload on SIGHUP that keeps open connections, and stalled
//! downloads cut after the idle timeout as on plain TCP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use forge_e2e::{free_port, wait_until};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::config::{forge, Served};

/// A self-signed certificate for localhost and 127.0.0.1 at `dir/{name}.pem`, key beside.
pub(crate) fn certificate(dir: &Path, name: &str) -> (String, String) {
    let cert = dir.join(format!("{name}.pem")).display().to_string();
    let key = dir.join(format!("{name}.key")).display().to_string();
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            // An end-entity certificate: webpki refuses a CA certificate as a server's own.
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
            &key,
            "-out",
            &cert,
        ])
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

pub(crate) fn der(pem_path: &str) -> CertificateDer<'static> {
    let pem = std::fs::read(pem_path).expect("read certificate");
    let mut reader = pem.as_slice();
    let cert = rustls_pemfile::certs(&mut reader)
        .next()
        .expect("a certificate")
        .expect("parse certificate");
    cert.into_owned()
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection trusting only `ca`, offering `alpn`.
fn connect(addr: &str, ca: &str, alpn: &[&[u8]]) -> std::io::Result<Tls> {
    let mut roots = RootCertStore::empty();
    roots.add(der(ca)).map_err(std::io::Error::other)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    let conn = ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// One HTTP/1.1 request on a kept-alive connection; returns the status and body.
fn get(tls: &mut Tls, path: &str) -> std::io::Result<(u16, String)> {
    write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
    tls.flush()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tls.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    tls.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn serve_tls(data: &Path, cert: &str, key: &str) -> Served {
    serve_tls_with(data, cert, key, &[])
}

fn serve_tls_with(data: &Path, cert: &str, key: &str, env: &[(&str, &str)]) -> Served {
    for _ in 0..3 {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = forge(&["serve"])
            .envs(env.iter().copied())
            .env("FORGE_DATA_DIR", data)
            .env("FORGE_LISTEN", &addr)
            .env("FORGE_TLS_CERT", cert)
            .env("FORGE_TLS_KEY", key)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start forge-server");
        let mut served = Served { child, addr };
        let up = wait_until(Duration::from_secs(30), || {
            served.child.try_wait().ok().flatten().is_none()
                && connect(&served.addr, cert, &[b"http/1.1"])
                    .and_then(|mut c| get(&mut c, "/api/healthz"))
                    .is_ok_and(|(status, _)| status == 200)
        });
        if up {
            return served;
        }
        eprintln!(
            "no HTTPS answer on {}: {:?}",
            served.addr,
            connect(&served.addr, cert, &[b"http/1.1"])
                .and_then(|mut c| get(&mut c, "/api/healthz"))
        );
    }
    panic!("forge-server did not serve HTTPS");
}

#[test]
fn https_with_http2_and_reload_on_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, first_key) = certificate(dir.path(), "first");
    let (second, second_key) = certificate(dir.path(), "second");
    let live = dir.path().join("live.pem").display().to_string();
    let live_key = dir.path().join("live.key").display().to_string();
    std::fs::copy(&first, &live).expect("copy");
    std::fs::copy(&first_key, &live_key).expect("copy");
    let served = serve_tls(&dir.path().join("data"), &live, &live_key);
    let addr = served.addr.clone();

    // curl over HTTP/2, trusting the certificate.
    let url = format!(
        "https://localhost:{}/api/healthz",
        addr.rsplit(':').next().unwrap_or_default()
    );
    let out = Command::new("curl")
        .args(["-sS", "--http2", "--cacert", &first, "--resolve"])
        .arg(format!(
            "localhost:{}:127.0.0.1",
            addr.rsplit(':').next().unwrap_or_default()
        ))
        .args([
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            &url,
        ])
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2 200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Plain HTTP on the TLS port is refused.
    assert!(ureq::get(&format!("http://{addr}/api/healthz"))
        .call()
        .is_err());

    // The rustls client: h2 is chosen when offered, HTTP/1.1 otherwise.
    let h2 = connect(&addr, &first, &[b"h2", b"http/1.1"]).expect("TLS with h2");
    assert_eq!(h2.conn.alpn_protocol(), Some(&b"h2"[..]));
    let mut kept = connect(&addr, &first, &[b"http/1.1"]).expect("TLS");
    let (status, body) = get(&mut kept, "/api/healthz").expect("request");
    assert_eq!(status, 200, "{body}");

    // A new certificate, then SIGHUP: new handshakes get it, open connections carry on.
    std::fs::copy(&second, &live).expect("copy");
    std::fs::copy(&second_key, &live_key).expect("copy");
    // SAFETY: the pid is our own child, which has not been waited for.
    unsafe { libc::kill(served.child.id() as libc::pid_t, libc::SIGHUP) };
    let reloaded = wait_until(Duration::from_secs(10), || {
        connect(&addr, &second, &[b"http/1.1"]).is_ok()
    });
    assert!(reloaded, "the new certificate was not served after SIGHUP");
    assert!(
        connect(&addr, &first, &[b"http/1.1"]).is_err(),
        "the old certificate is still served"
    );
    let (status, _) = get(&mut kept, "/api/healthz").expect("the open connection still works");
    assert_eq!(status, 200);

    // A broken file on reload keeps the certificate in use.
    std::fs::write(&live, "not a certificate").expect("write");
    unsafe { libc::kill(served.child.id() as libc::pid_t, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(300));
    assert!(connect(&addr, &second, &[b"http/1.1"]).is_ok());
    served.stop();
}

#[test]
fn a_missing_key_stops_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, _) = certificate(dir.path(), "only");
    let out = forge(&["serve"])
        .env("FORGE_DATA_DIR", dir.path().join("data"))
        .env("FORGE_LISTEN", "127.0.0.1:0")
        .env("FORGE_TLS_CERT", &cert)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("tls.key"));
    let out = forge(&["serve"])
        .env("FORGE_DATA_DIR", dir.path().join("data"))
        .env("FORGE_LISTEN", "127.0.0.1:0")
        .env("FORGE_TLS_CERT", &cert)
        .env("FORGE_TLS_KEY", dir.path().join("absent.key"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("absent.key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client that asks for a large file over HTTPS and stops reading is disconnected after
/// the idle timeout, as on plain TCP, instead of holding the connection forever.
#[test]
fn a_stalled_download_over_tls_is_cut() {
    const SIZE: usize = 24 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = certificate(dir.path(), "stall");
    let data = dir.path().join("data");
    let created = forge(&[
        "admin",
        "user",
        "create",
        "--username",
        "alice",
        "--password",
        "pa55word-x",
        "--email",
        "a@example.com",
    ])
    .env("FORGE_DATA_DIR", &data)
    .env("FORGE_BCRYPT_COST", "4")
    .stderr(Stdio::null())
    .status()
    .expect("create user");
    assert!(created.success());
    let served = serve_tls_with(&data, &cert, &key, &[("FORGE_IDLE_TIMEOUT", "2")]);
    let port = served
        .addr
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();

    let body = dir.path().join("big.bin");
    std::fs::write(&body, vec![7u8; SIZE]).expect("write file");
    let url = format!("https://localhost:{port}/api/packages/alice/generic/app/1.0/big.bin");
    let out = Command::new("curl")
        .args(["-sS", "--cacert", &cert, "--resolve"])
        .arg(format!("localhost:{port}:127.0.0.1"))
        .args(["-u", "alice:pa55word-x", "-T"])
        .arg(&body)
        .args(["-o", "/dev/null", "-w", "%{http_code}", &url])
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "201",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut tls = connect(&served.addr, &cert, &[b"http/1.1"]).expect("TLS");
    let size: libc::c_int = 256 * 1024;
    // SAFETY: a valid socket and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&tls.sock),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    write!(
        tls,
        "GET /api/packages/alice/generic/app/1.0/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    .expect("send request");
    tls.flush().expect("flush");
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = tls.read(&mut buf).expect("the answer starts");

    // Stall well past the idle timeout, then read what is left: a cut connection ends
    // before the whole file arrived; one left open delivers it all and then waits.
    std::thread::sleep(Duration::from_secs(6));
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let closed = loop {
        match tls.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => received += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Err(_) => break true,
        }
    };
    assert!(closed, "the stalled download's connection stayed open");
    assert!(
        received < SIZE,
        "the whole file arrived ({received} bytes), so nothing was cut"
    );
    // The server serves on.
    let mut fresh = connect(&served.addr, &cert, &[b"http/1.1"]).expect("TLS");
    let (status, _) = get(&mut fresh, "/api/healthz").expect("request");
    assert_eq!(status, 200);
    served.stop();
}

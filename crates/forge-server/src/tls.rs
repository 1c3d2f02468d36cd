//! Native TLS with rustls: the certificate and key from `[tls]`, HTTP/2 offered over ALPN,
//! and a reload (on SIGHUP) that swaps the certificate for new handshakes while connections
//! already open carry on with theirs.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::ring;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// The certificate or key could not be used; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsError {
    pub path: PathBuf,
    pub message: String,
}

fn error(path: &Path, message: impl ToString) -> TlsError {
    TlsError {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

/// Reads a PEM certificate chain and private key.
fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_pem = std::fs::read(cert_path).map_err(|e| error(cert_path, e))?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(cert_path, e))?;
    if certs.is_empty() {
        return Err(error(cert_path, "no certificate in the file"));
    }
    let key_pem = std::fs::read(key_path).map_err(|e| error(key_path, e))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| error(key_path, e))?
        .ok_or_else(|| error(key_path, "no private key in the file"))?;
    let signing_key = ring::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| error(key_path, e))?;
    let certified = CertifiedKey::new(certs, signing_key);
    certified
        .keys_match()
        .map_err(|e| error(key_path, format!("does not match the certificate: {e}")))?;
    Ok(Arc::new(certified))
}

/// Hands out the current certificate; [`Certificates::reload`] replaces it.
#[derive(Debug)]
pub struct Certificates {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Loads the certificate and key; an unreadable or mismatched pair is an error.
    pub fn open(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, TlsError> {
        Ok(Arc::new(Certificates {
            current: RwLock::new(load(cert_path, key_path)?),
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
        }))
    }

    /// Reads the files again; on an error the previous certificate stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = load(&self.cert_path, &self.key_path)?;
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = fresh;
        Ok(())
    }

    /// The server configuration: TLS 1.2 and 1.3 with ring's algorithms; actix-http adds
    /// `h2` and `http/1.1` to ALPN.
    pub fn server_config(self: &Arc<Self>) -> Result<ServerConfig, TlsError> {
        let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| error(&self.cert_path, e))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        Ok(config)
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|current| Arc::clone(&current))
    }
}

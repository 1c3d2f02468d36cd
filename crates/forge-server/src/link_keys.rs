//! The keys of signed download links: the configured ones, or one generated on first start
//! and kept in the data directory, so links survive a restart without any set-up.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use forge_auth::signed_link::LinkKeys;

use crate::config::Config;
use crate::error::ServerError;

/// File in the data directory holding the generated key (base64).
const KEY_FILE: &str = "link-signing.key";
/// Id of the generated key in the tokens it signs.
const GENERATED_KID: &str = "local";

/// Loads the configured keys, or the generated one (creating it on first start).
pub fn load(config: &Config) -> Result<LinkKeys, ServerError> {
    let links = &config.links;
    if !links.keys.is_empty() {
        return LinkKeys::parse(&links.keys, &links.signing_key)
            .map_err(|e| ServerError::Auth(e.to_string()));
    }
    let secret = generated_secret(&config.server.data_dir.join(KEY_FILE))?;
    LinkKeys::single_hs256(GENERATED_KID, &secret).map_err(|e| ServerError::Auth(e.to_string()))
}

/// Reads the key file, or writes a new random key to it (readable by the owner only).
fn generated_secret(path: &Path) -> Result<Vec<u8>, ServerError> {
    let context = |what: &str| format!("{what} {}", path.display());
    match std::fs::read_to_string(path) {
        Ok(text) => forge_auth::signed_link::decode_key(text.trim())
            .map_err(|_| ServerError::Auth(format!("{} is not a base64 key", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = forge_auth::signed_link::random_secret()
                .map_err(|e| ServerError::Auth(e.to_string()))?;
            // Written in full under a name of its own, then linked into place: instances
            // starting together on one data directory read either no file or a whole one,
            // never the empty file a create-then-write leaves for a moment.
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let tmp = path.with_extension(format!(
                "key.{}-{}.tmp",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let written = options.open(&tmp).and_then(|mut file| {
                file.write_all(forge_auth::signed_link::encode_key(&secret).as_bytes())?;
                file.sync_all()
            });
            if let Err(source) = written {
                let _ = std::fs::remove_file(&tmp);
                return Err(ServerError::Io {
                    context: context("cannot write"),
                    source,
                });
            }
            let linked = std::fs::hard_link(&tmp, path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => Ok(secret),
                // Another process sharing the data directory created it first.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => generated_secret(path),
                Err(source) => Err(ServerError::Io {
                    context: context("cannot create"),
                    source,
                }),
            }
        }
        Err(source) => Err(ServerError::Io {
            context: context("cannot read"),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::generated_secret;

    /// Starts racing on an empty data directory all end with the same whole key.
    #[test]
    fn concurrent_first_starts_agree_on_one_key() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join(super::KEY_FILE);
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let keys: Vec<Vec<u8>> = (0..8)
                .map(|_| {
                    let (path, barrier) = (path.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        generated_secret(&path).expect("key")
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect();
            assert!(keys[0].len() >= 32);
            assert!(keys.iter().all(|k| *k == keys[0]));
            // Only the key file is left.
            assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
        }
    }
}

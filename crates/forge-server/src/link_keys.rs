//! The keys of signed download links: the configured ones, or one generated on first start
//! and kept in the data directory, so links survive a restart without any set-up.

use std::io::Write;
use std::path::Path;

use forge_auth::signed_link::LinkKeys;

use crate::config::Config;
use crate::server::ServerError;

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
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(forge_auth::signed_link::encode_key(&secret).as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(|source| ServerError::Io {
                            context: context("cannot write"),
                            source,
                        })?;
                    Ok(secret)
                }
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

//! Signed download links: a JWT that lets whoever holds it download exactly one file, by
//! name and content, until it expires.
//!
//! Keys are named (`kid` in the token's header) so they can rotate: tokens are signed with
//! one key and verified with any configured key of that name, so a key that stops signing
//! keeps verifying the links it made until it is removed. A key is HS256 (a shared secret)
//! or EdDSA (an Ed25519 private key; its public half verifies).
//!
//! The token names the file (owner id, package, version and file name, all lowercased) and
//! its content's SHA-256, so a link stops working when the file is replaced or deleted.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The audience of download links; a token minted for anything else is refused.
pub const LINK_AUDIENCE: &str = "forge-packages:download";

/// The PKCS#8 v1 DER prefix of an Ed25519 private key; the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// What a link grants: one file with one content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issue time, Unix seconds.
    pub iat: u64,
    /// `<owner id>/<type>/<package>/<version>/<file>`, lowercased; see [`LinkClaims::subject`].
    pub sub: String,
    /// SHA-256 of the content the link was made for.
    pub sha256: String,
}

impl LinkClaims {
    /// The subject naming a file of a package type. The owner is its id, so a renamed or
    /// recreated owner of the same name does not inherit links.
    pub fn subject(
        owner_id: i64,
        package_type: &str,
        package: &str,
        version: &str,
        file: &str,
    ) -> String {
        // Slashes inside a version are escaped so the parts stay apart.
        let part = |s: &str| {
            packages_core::lower(s)
                .replace('%', "%25")
                .replace('/', "%2F")
        };
        format!(
            "{owner_id}/{}/{}/{}/{}",
            part(package_type),
            part(package),
            part(version),
            part(file)
        )
    }
}

/// Why a link was refused. The messages are shown to whoever holds the link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the download link is malformed")]
    Malformed,
    #[error("the download link was signed with a key this server does not know")]
    UnknownKey,
    #[error("the download link's signature is invalid")]
    BadSignature,
    #[error("the download link has expired")]
    Expired,
    #[error("the token is not a download link")]
    WrongAudience,
}

/// A configuration entry that cannot be used as a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("link key {entry}: {reason}")]
pub struct LinkKeyError {
    /// The key's id, or the entry's position when it has none.
    pub entry: String,
    pub reason: String,
}

/// One named key.
struct LinkKey {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

/// The keys of a server: one signs, all verify.
pub struct LinkKeys {
    keys: Vec<LinkKey>,
    signing: usize,
}

impl std::fmt::Debug for LinkKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("LinkKeys")
            .field("kids", &kids)
            .field("signing", &self.keys[self.signing].kid)
            .finish()
    }
}

impl LinkKeys {
    /// Reads keys from `entries`, a comma-separated list of `kid:HS256:<base64 secret of at
    /// least 32 bytes>` or `kid:EdDSA:<base64 32-byte Ed25519 private key>`. `signing_kid`
    /// names the key that signs new links; empty means the first.
    pub fn parse(entries: &Secret, signing_kid: &str) -> Result<LinkKeys, LinkKeyError> {
        let mut keys: Vec<LinkKey> = Vec::new();
        for (i, entry) in entries
            .expose()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let mut parts = entry.splitn(3, ':');
            let (Some(kid), Some(alg), Some(material)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(key_error(
                    format!("#{}", i + 1),
                    "expected kid:ALG:base64-key",
                ));
            };
            if kid.is_empty() || keys.iter().any(|k| k.kid == kid) {
                return Err(key_error(kid, "the key id is empty or used twice"));
            }
            let bytes = STANDARD
                .decode(material.trim())
                .map_err(|_| key_error(kid, "the key is not base64"))?;
            let key = match alg {
                "HS256" => Self::hs256(kid, &bytes)?,
                "EdDSA" => Self::ed25519(kid, &bytes)?,
                other => return Err(key_error(kid, format!("unknown algorithm {other:?}"))),
            };
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(key_error("(none)", "no keys configured"));
        }
        let signing = if signing_kid.is_empty() {
            0
        } else {
            keys.iter()
                .position(|k| k.kid == signing_kid)
                .ok_or_else(|| key_error(signing_kid, "the signing key is not among the keys"))?
        };
        Ok(LinkKeys { keys, signing })
    }

    /// One HS256 key, for a server whose links only it has to verify.
    pub fn single_hs256(kid: &str, secret: &[u8]) -> Result<LinkKeys, LinkKeyError> {
        Ok(LinkKeys {
            keys: vec![Self::hs256(kid, secret)?],
            signing: 0,
        })
    }

    fn hs256(kid: &str, secret: &[u8]) -> Result<LinkKey, LinkKeyError> {
        if secret.len() < 32 {
            return Err(key_error(kid, "an HS256 secret needs at least 32 bytes"));
        }
        Ok(LinkKey {
            kid: kid.to_owned(),
            algorithm: Algorithm::HS256,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
    }

    fn ed25519(kid: &str, seed: &[u8]) -> Result<LinkKey, LinkKeyError> {
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| key_error(kid, "an EdDSA key is a 32-byte Ed25519 private key"))?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let mut der = ED25519_PKCS8_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let decoding = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(public.as_bytes()))
            .map_err(|e| key_error(kid, e.to_string()))?;
        Ok(LinkKey {
            kid: kid.to_owned(),
            algorithm: Algorithm::EdDSA,
            encoding: EncodingKey::from_ed_der(&der),
            decoding,
        })
    }

    /// The id of the key that signs.
    pub fn signing_kid(&self) -> &str {
        &self.keys[self.signing].kid
    }

    /// Signs a link for `subject` with content `sha256`, valid from `now` for `ttl_secs`.
    pub fn sign(
        &self,
        subject: String,
        sha256: &str,
        now: u64,
        ttl_secs: u64,
    ) -> Result<(String, LinkClaims), LinkKeyError> {
        let claims = LinkClaims {
            aud: LINK_AUDIENCE.to_owned(),
            exp: now.saturating_add(ttl_secs),
            iat: now,
            sub: subject,
            sha256: sha256.to_owned(),
        };
        let token = self.sign_claims(&claims)?;
        Ok((token, claims))
    }

    /// Signs any claims with the signing key, naming the key in the header.
    pub(crate) fn sign_claims<C: Serialize>(&self, claims: &C) -> Result<String, LinkKeyError> {
        let key = &self.keys[self.signing];
        let mut header = Header::new(key.algorithm);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding)
            .map_err(|e| key_error(&key.kid, e.to_string()))
    }

    /// Checks a token's signature with the key its header names and decodes its claims;
    /// audience and expiry are the caller's to check.
    pub(crate) fn decode_claims<C: DeserializeOwned>(&self, token: &str) -> Result<C, LinkError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| LinkError::Malformed)?;
        let kid = header.kid.ok_or(LinkError::UnknownKey)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(LinkError::UnknownKey)?;
        if header.alg != key.algorithm {
            return Err(LinkError::BadSignature);
        }
        let mut validation = Validation::new(key.algorithm);
        // Expiry is checked by the caller against its clock, without leeway.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims = ["exp", "aud", "sub"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        jsonwebtoken::decode::<C>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => LinkError::BadSignature,
                _ => LinkError::Malformed,
            })
    }

    /// Checks a link's signature, audience and expiry (at `now`, without leeway) and answers
    /// what it grants. The caller still checks that the file is the one it names.
    pub fn verify(&self, token: &str, now: u64) -> Result<LinkClaims, LinkError> {
        let claims: LinkClaims = self.decode_claims(token)?;
        if claims.aud != LINK_AUDIENCE {
            return Err(LinkError::WrongAudience);
        }
        if claims.exp <= now {
            return Err(LinkError::Expired);
        }
        Ok(claims)
    }
}

/// 32 random bytes, for a generated HS256 key.
pub fn random_secret() -> Result<Vec<u8>, getrandom::Error> {
    let mut bytes = vec![0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

/// A key as written in configuration and key files: standard base64.
pub fn encode_key(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The bytes of a base64 key.
pub fn decode_key(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(text)
}

fn key_error(entry: impl Into<String>, reason: impl Into<String>) -> LinkKeyError {
    LinkKeyError {
        entry: entry.into(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    fn keys(spec: &str, signing: &str) -> LinkKeys {
        LinkKeys::parse(&Secret::new(spec), signing).unwrap()
    }

    #[test]
    fn signs_and_verifies_with_both_algorithms() {
        let spec = format!("h:HS256:{},e:EdDSA:{}", b64(&[7; 32]), b64(&[9; 32]));
        for kid in ["h", "e"] {
            let k = keys(&spec, kid);
            let (token, claims) = k.sign("1/a/1.0/f".into(), "abc", 1000, 60).unwrap();
            assert_eq!(k.verify(&token, 1059).unwrap(), claims);
            assert_eq!(k.verify(&token, 1060), Err(LinkError::Expired));
        }
    }

    #[test]
    fn rotation_keeps_old_links_until_the_key_goes() {
        let old = format!("k1:HS256:{}", b64(&[1; 32]));
        let both = format!("k2:EdDSA:{},{old}", b64(&[2; 32]));
        let (token, _) = keys(&old, "").sign("s".into(), "x", 0, 100).unwrap();
        let rotated = keys(&both, "");
        assert_eq!(rotated.signing_kid(), "k2");
        assert!(rotated.verify(&token, 1).is_ok());
        let only_new = keys(&format!("k2:EdDSA:{}", b64(&[2; 32])), "");
        assert_eq!(only_new.verify(&token, 1), Err(LinkError::UnknownKey));
    }

    #[test]
    fn tampering_is_detected() {
        let k = keys(&format!("k:HS256:{}", b64(&[3; 32])), "");
        let (token, _) = k.sign("1/a/1/f".into(), "x", 0, 100).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = LinkClaims {
            aud: LINK_AUDIENCE.into(),
            exp: 100,
            iat: 0,
            sub: "1/a/1/other".into(),
            sha256: "x".into(),
        };
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(k.verify(&parts.join("."), 1), Err(LinkError::BadSignature));
        assert_eq!(k.verify("garbage", 1), Err(LinkError::Malformed));
        // Same id, other secret: the signature does not hold.
        let other = keys(&format!("k:HS256:{}", b64(&[4; 32])), "");
        assert_eq!(other.verify(&token, 1), Err(LinkError::BadSignature));
    }

    #[test]
    fn bad_entries_are_refused() {
        for spec in [
            "",
            "k:HS256:c2hvcnQ=",
            "k:RS256:AAAA",
            "k:EdDSA:AAAA",
            "nocolons",
            "k:HS256:***",
        ] {
            assert!(LinkKeys::parse(&Secret::new(spec), "").is_err(), "{spec}");
        }
        let spec = format!("k:HS256:{}", b64(&[1; 32]));
        assert!(LinkKeys::parse(&Secret::new(spec.as_str()), "other").is_err());
        let twice = format!("{spec},{spec}");
        assert!(LinkKeys::parse(&Secret::new(twice), "").is_err());
    }

    #[test]
    fn subjects_keep_parts_apart() {
        assert_eq!(
            LinkClaims::subject(7, "generic", "App", "1.0/2", "F"),
            "7/generic/app/1.0%2F2/f"
        );
    }
}

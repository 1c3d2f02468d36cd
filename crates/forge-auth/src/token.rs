//! Personal access tokens: minting, hashing for storage, and cheap shape checks.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::AuthError;
use crate::secret::Secret;

/// Random bytes in a token: 160 bits, as in Forgejo, shown as 40 hex characters.
const TOKEN_BYTES: usize = 20;
/// Length of a token's text form.
const TOKEN_LEN: usize = TOKEN_BYTES * 2;
/// How many trailing characters are kept in clear so users can tell their tokens apart.
const LAST_EIGHT: usize = 8;

/// A freshly minted token. The caller shows `token` to the user once and stores only `hash`
/// and `last_eight`.
#[derive(Debug, Clone)]
pub struct NewTokenSecret {
    /// The token itself: 40 lowercase hex characters.
    pub token: Secret,
    /// SHA-256 of the token, lowercase hex; the lookup key in storage.
    pub hash: String,
    /// The token's last eight characters, for listings.
    pub last_eight: String,
}

/// Mints a new personal access token from the operating system's random number generator.
pub fn generate_token() -> Result<NewTokenSecret, AuthError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)?;
    let token = hex::encode(bytes);
    let hash = hash_token(&token);
    let last_eight = token[TOKEN_LEN - LAST_EIGHT..].to_owned();
    Ok(NewTokenSecret {
        token: Secret::new(token),
        hash,
        last_eight,
    })
}

/// SHA-256 of a token, lowercase hex.
///
/// A fast unsalted hash is enough here, unlike for passwords: a token carries 160 random
/// bits, so there is nothing to brute-force, and an unsalted hash lets storage find the token
/// by an indexed equality lookup.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `candidate` has the shape of a token we mint: exactly 40 lowercase hex characters.
///
/// Lets the server skip a storage lookup for values that cannot be tokens (ordinary passwords,
/// JWTs). Uppercase is rejected as Forgejo does: hashing is case-sensitive, so an uppercased
/// token would never be found anyway.
pub fn looks_like_token(candidate: &str) -> bool {
    candidate.len() == TOKEN_LEN
        && candidate
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks a presented token against a stored hash in constant time.
///
/// Storage already found the row by hash; this re-check keeps the decision independent of
/// how the database compares strings (collations, trailing spaces).
pub fn verify_token(candidate: &str, stored_hash: &str) -> bool {
    hash_token(candidate)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_vector() {
        assert_eq!(
            hash_token("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn generated_tokens_have_the_documented_shape() {
        let a = generate_token().expect("random");
        let b = generate_token().expect("random");
        let token = a.token.expose();
        assert_eq!(token.len(), 40);
        assert!(looks_like_token(token), "{token}");
        assert_eq!(a.hash, hash_token(token));
        assert_eq!(a.hash.len(), 64);
        assert_eq!(a.last_eight, token[32..]);
        assert!(verify_token(token, &a.hash));
        assert!(!verify_token(token, &b.hash));
        assert_ne!(a.token, b.token);
        // Debug output of a new token must not show it.
        assert!(!format!("{a:?}").contains(token));
    }

    #[test]
    fn token_shape() {
        assert!(looks_like_token("0123456789abcdef0123456789abcdef01234567"));
        assert!(!looks_like_token(
            "0123456789ABCDEF0123456789abcdef01234567"
        ));
        assert!(!looks_like_token("0123456789abcdef0123456789abcdef0123456"));
        assert!(!looks_like_token(
            "0123456789abcdef0123456789abcdef012345678"
        ));
        assert!(!looks_like_token(
            "g123456789abcdef0123456789abcdef01234567"
        ));
        assert!(!looks_like_token("password"));
        assert!(!looks_like_token(""));
        // 40 bytes but not 40 ASCII characters.
        assert!(!looks_like_token("ä123456789abcdef0123456789abcdef0123456"));
    }
}

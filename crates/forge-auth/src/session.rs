//! Browser sessions: minting session ids and form tokens, hashing ids for storage, and the
//! constant-time comparison of form tokens.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::AuthError;
use crate::secret::Secret;

/// Random bytes in a session id and in a form token: 256 bits.
const SESSION_BYTES: usize = 32;

/// A new session: the id goes to the browser in a cookie, only its hash is stored.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// 64 lowercase hex characters.
    pub id: Secret,
    /// SHA-256 of the id, lowercase hex; the lookup key in storage.
    pub hash: String,
    /// The token the session's forms carry, 64 lowercase hex characters.
    pub csrf_token: String,
}

/// Mints a session id and its form token from the operating system's random number generator.
pub fn generate_session() -> Result<NewSession, AuthError> {
    let id = random_hex()?;
    let hash = hash_session_id(&id);
    Ok(NewSession {
        id: Secret::new(id),
        hash,
        csrf_token: random_hex()?,
    })
}

/// 256 random bits as lowercase hex; also the form token of visitors not signed in.
pub fn random_hex() -> Result<String, AuthError> {
    let mut bytes = [0u8; SESSION_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// SHA-256 of a session id, lowercase hex. As for tokens, an unsalted fast hash is enough:
/// the id is 256 random bits, and the hash must be found by an indexed equality lookup.
pub fn hash_session_id(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Whether `candidate` has the shape of an id or form token we mint.
pub fn looks_like_session_id(candidate: &str) -> bool {
    candidate.len() == SESSION_BYTES * 2
        && candidate
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Compares a form token with the expected one in constant time; an empty expected token
/// matches nothing.
pub fn csrf_token_matches(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_and_hashed() {
        let a = generate_session().expect("random");
        let b = generate_session().expect("random");
        assert_ne!(a.id.expose(), b.id.expose());
        assert!(looks_like_session_id(a.id.expose()));
        assert!(looks_like_session_id(&a.csrf_token));
        assert_ne!(a.id.expose(), a.csrf_token);
        assert_eq!(a.hash, hash_session_id(a.id.expose()));
        assert_ne!(a.hash, a.id.expose());
        assert!(!looks_like_session_id("ABC"));
        assert!(!looks_like_session_id(&"G".repeat(64)));
    }

    #[test]
    fn form_tokens_compare_exactly() {
        let t = random_hex().expect("random");
        assert!(csrf_token_matches(&t, &t));
        assert!(!csrf_token_matches(&t, &t[..63]));
        assert!(!csrf_token_matches(&t, ""));
        assert!(!csrf_token_matches("", ""));
    }
}

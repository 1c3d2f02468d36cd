//! Bearer tokens of the container registry's token endpoint: a short-lived JWT, signed with
//! the server's link keys (so every instance that shares the keys accepts it), saying who
//! signed in and, when an access token was used, with which scope.

use serde::{Deserialize, Serialize};

use crate::signed_link::{LinkError, LinkKeyError, LinkKeys};

/// The audience of registry tokens; a download link is not one, nor the other way round.
pub const REGISTRY_AUDIENCE: &str = "forge-packages:registry";

/// What a registry token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryClaims {
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issue time, Unix seconds.
    pub iat: u64,
    /// The user's id, or `0` for an anonymous caller.
    pub sub: String,
    /// The user's name when the token was issued, so the user can be found in a cache by
    /// name (the id must still match).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The scope of the access token that was exchanged; absent after a password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl RegistryClaims {
    /// The signed-in user's id; `None` for an anonymous token.
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse::<i64>().ok().filter(|id| *id > 0)
    }
}

/// Signs a token for `user_id` (`None`: anonymous) valid from `now` for `ttl_secs`.
pub fn sign(
    keys: &LinkKeys,
    user: Option<(i64, &str)>,
    scope: Option<String>,
    now: u64,
    ttl_secs: u64,
) -> Result<String, LinkKeyError> {
    keys.sign_claims(&RegistryClaims {
        aud: REGISTRY_AUDIENCE.to_owned(),
        exp: now.saturating_add(ttl_secs),
        iat: now,
        sub: user.map_or(0, |(id, _)| id).to_string(),
        name: user.map_or(String::new(), |(_, name)| name.to_owned()),
        scope,
    })
}

/// Checks a token's signature, audience and expiry at `now`.
pub fn verify(keys: &LinkKeys, token: &str, now: u64) -> Result<RegistryClaims, LinkError> {
    let claims: RegistryClaims = keys.decode_claims(token)?;
    if claims.aud != REGISTRY_AUDIENCE {
        return Err(LinkError::WrongAudience);
    }
    if claims.exp <= now {
        return Err(LinkError::Expired);
    }
    Ok(claims)
}

/// Whether a bearer credential has the shape of a JWT (three dot-separated parts) rather
/// than an access token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn keys() -> LinkKeys {
        let secret = crate::signed_link::encode_key(&[7u8; 32]);
        LinkKeys::parse(&Secret::new(format!("k1:HS256:{secret}")), "").unwrap()
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let keys = keys();
        let token = sign(
            &keys,
            Some((42, "alice")),
            Some("read:package".into()),
            1000,
            60,
        )
        .unwrap();
        assert!(looks_like_jwt(&token));
        let claims = verify(&keys, &token, 1059).unwrap();
        assert_eq!(claims.user_id(), Some(42));
        assert_eq!(claims.name, "alice");
        assert_eq!(claims.scope.as_deref(), Some("read:package"));
        assert_eq!(verify(&keys, &token, 1060), Err(LinkError::Expired));
    }

    #[test]
    fn anonymous_tokens_name_nobody_and_links_are_not_tokens() {
        let keys = keys();
        let token = sign(&keys, None, None, 1000, 60).unwrap();
        assert_eq!(verify(&keys, &token, 1001).unwrap().user_id(), None);
        let (link, _) = keys.sign("1/generic/a/1/f".into(), "00", 1000, 60).unwrap();
        assert_eq!(verify(&keys, &link, 1001), Err(LinkError::WrongAudience));
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert!(verify(&keys, &forged, 1001).is_err());
    }
}

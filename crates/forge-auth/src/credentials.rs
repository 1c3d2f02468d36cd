//! Parsing the `Authorization` header and the order in which its credentials are tried.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::secret::Secret;

/// The password value Git clients send with a token as the username (GitHub's convention).
const OAUTH_BASIC_PLACEHOLDER: &str = "x-oauth-basic";

/// Credentials found in an `Authorization` header.
///
/// `Debug` hides the user name when it carries a token (see [`Credentials::token_candidate`]).
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `token <T>` or `Bearer <T>`.
    Token(Secret),
    /// `Basic base64(username:password)`. The password may itself be a token, see
    /// [`Credentials::token_candidate`].
    Basic { username: String, password: Secret },
}

/// The header is present but cannot be used. The server answers 401 instead of treating the
/// request as anonymous: a client with broken credentials should be told so, not silently
/// served whatever anonymous users may see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// The scheme is none of `token`, `Bearer` and `Basic`.
    #[error("unsupported authorization scheme")]
    UnknownScheme,
    /// The value is not exactly a scheme and one credential separated by whitespace.
    #[error("malformed authorization header")]
    Malformed,
    /// The Basic credential is not valid base64.
    #[error("basic credentials are not valid base64")]
    InvalidBase64,
    /// The decoded Basic credential is not UTF-8.
    #[error("basic credentials are not valid UTF-8")]
    InvalidUtf8,
    /// The decoded Basic credential has no `:` between user name and password.
    #[error("basic credentials lack a ':' separator")]
    MissingColon,
}

/// Parses an `Authorization` header value.
///
/// Returns `Ok(None)` when the header is empty (the request is anonymous). The `token` scheme
/// must be lowercase, as in Forgejo; `Bearer` and `Basic` are matched case-insensitively.
pub fn parse_authorization(value: &str) -> Result<Option<Credentials>, CredentialsError> {
    let mut fields = value.split_whitespace();
    let Some(scheme) = fields.next() else {
        return Ok(None);
    };
    let (Some(credential), None) = (fields.next(), fields.next()) else {
        return Err(CredentialsError::Malformed);
    };

    if scheme == "token" || scheme.eq_ignore_ascii_case("bearer") {
        Ok(Some(Credentials::Token(Secret::new(credential))))
    } else if scheme.eq_ignore_ascii_case("basic") {
        decode_basic(credential).map(Some)
    } else {
        Err(CredentialsError::UnknownScheme)
    }
}

/// [`parse_authorization`], and also a bare token without a scheme (`Authorization:
/// <token>`, what cargo sends). Only formats whose clients send that accept it.
pub fn parse_authorization_or_bare_token(
    value: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    let mut fields = value.split_whitespace();
    match (fields.next(), fields.next()) {
        (Some(token), None)
            if !token.eq_ignore_ascii_case("basic")
                && !token.eq_ignore_ascii_case("bearer")
                && token != "token" =>
        {
            Ok(Some(Credentials::Token(Secret::new(token))))
        }
        _ => parse_authorization(value),
    }
}

fn decode_basic(encoded: &str) -> Result<Credentials, CredentialsError> {
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| CredentialsError::InvalidBase64)?;
    let text = String::from_utf8(bytes).map_err(|_| CredentialsError::InvalidUtf8)?;
    // The first colon separates: user names cannot contain one, passwords may.
    let (username, password) = text.split_once(':').ok_or(CredentialsError::MissingColon)?;
    Ok(Credentials::Basic {
        username: username.to_owned(),
        password: Secret::new(password),
    })
}

impl Credentials {
    /// The value to look up as an access token, tried before any password sign-in.
    ///
    /// For Basic, Forgejo takes the user name as the token when the password is empty or
    /// `x-oauth-basic` (how Git clients pass a token), and the password otherwise (how most
    /// package clients pass one). The user name is deliberately not compared with the token's
    /// owner. An empty candidate is never a token, so it yields `None`.
    ///
    /// The result is owned because a user name acting as a token is stored as a plain
    /// `String`; cloning a 40-byte value per request is cheaper than a second representation.
    pub fn token_candidate(&self) -> Option<Secret> {
        let candidate = match self {
            Credentials::Token(token) => token.clone(),
            Credentials::Basic { username, password } if is_placeholder_password(password) => {
                Secret::new(username.as_str())
            }
            Credentials::Basic { password, .. } => password.clone(),
        };
        (!candidate.is_empty()).then_some(candidate)
    }

    /// The user name and password to try as a real sign-in once the token candidate did not
    /// match: only Basic with a password that is neither empty nor `x-oauth-basic`.
    pub fn password_login(&self) -> Option<(&str, &Secret)> {
        match self {
            Credentials::Basic { username, password } if !is_placeholder_password(password) => {
                Some((username.as_str(), password))
            }
            _ => None,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Token(token) => f.debug_tuple("Token").field(token).finish(),
            Credentials::Basic { username, password } => {
                // With a placeholder password the user name is the token itself.
                let shown_username: &dyn fmt::Debug = if is_placeholder_password(password) {
                    &Secret::default()
                } else {
                    username
                };
                f.debug_struct("Basic")
                    .field("username", shown_username)
                    .field("password", password)
                    .finish()
            }
        }
    }
}

fn is_placeholder_password(password: &Secret) -> bool {
    password.is_empty() || password.expose() == OAUTH_BASIC_PLACEHOLDER
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef01234567";

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_pass))
    }

    fn parse_ok(value: &str) -> Credentials {
        match parse_authorization(value) {
            Ok(Some(c)) => c,
            other => panic!("{value:?} gave {other:?}"),
        }
    }

    #[test]
    fn token_scheme_lowercase() {
        let c = parse_ok(&format!("token {TOKEN}"));
        assert_eq!(c, Credentials::Token(Secret::new(TOKEN)));
        assert_eq!(c.token_candidate(), Some(Secret::new(TOKEN)));
        assert_eq!(c.password_login(), None);
    }

    #[test]
    fn bearer_scheme_any_case() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let c = parse_ok(&format!("{scheme} {TOKEN}"));
            assert_eq!(c, Credentials::Token(Secret::new(TOKEN)), "{scheme}");
        }
    }

    #[test]
    fn token_scheme_must_be_lowercase() {
        for scheme in ["Token", "TOKEN"] {
            assert_eq!(
                parse_authorization(&format!("{scheme} {TOKEN}")),
                Err(CredentialsError::UnknownScheme)
            );
        }
    }

    #[test]
    fn extra_whitespace_between_fields_is_fine() {
        let c = parse_ok(&format!("  token \t {TOKEN}  "));
        assert_eq!(c, Credentials::Token(Secret::new(TOKEN)));
    }

    #[test]
    fn basic_with_password() {
        let c = parse_ok(&basic("user2:pass:with:colons"));
        assert_eq!(
            c,
            Credentials::Basic {
                username: "user2".into(),
                password: Secret::new("pass:with:colons"),
            }
        );
        // The password is tried as a token first, then as a password.
        assert_eq!(c.token_candidate(), Some(Secret::new("pass:with:colons")));
        let (user, pass) = c.password_login().expect("password login");
        assert_eq!(user, "user2");
        assert_eq!(pass.expose(), "pass:with:colons");
    }

    #[test]
    fn basic_scheme_any_case() {
        let encoded = STANDARD.encode("a:b");
        for scheme in ["Basic", "basic", "BASIC"] {
            let c = parse_ok(&format!("{scheme} {encoded}"));
            assert!(matches!(c, Credentials::Basic { .. }), "{scheme}");
        }
    }

    #[test]
    fn basic_with_token_as_password() {
        let c = parse_ok(&basic(&format!("anyone:{TOKEN}")));
        assert_eq!(c.token_candidate(), Some(Secret::new(TOKEN)));
        // Not a token after all? Then it is a password for "anyone".
        assert_eq!(c.password_login().map(|(u, _)| u), Some("anyone"));
    }

    #[test]
    fn basic_with_token_as_username_and_empty_password() {
        let c = parse_ok(&basic(&format!("{TOKEN}:")));
        assert_eq!(c.token_candidate(), Some(Secret::new(TOKEN)));
        assert_eq!(c.password_login(), None);
        // The token in the user name must not show up in logs.
        assert!(!format!("{c:?}").contains(TOKEN));
    }

    #[test]
    fn basic_with_token_as_username_and_oauth_placeholder() {
        let c = parse_ok(&basic(&format!("{TOKEN}:x-oauth-basic")));
        assert_eq!(c.token_candidate(), Some(Secret::new(TOKEN)));
        assert_eq!(c.password_login(), None);
        assert!(!format!("{c:?}").contains(TOKEN));
    }

    #[test]
    fn basic_with_nothing_usable() {
        let c = parse_ok(&basic(":"));
        assert_eq!(c.token_candidate(), None);
        assert_eq!(c.password_login(), None);
    }

    #[test]
    fn debug_shows_user_name_but_not_password() {
        let c = parse_ok(&basic("user2:password"));
        let shown = format!("{c:?}");
        assert!(shown.contains("user2"), "{shown}");
        assert!(!shown.contains("password\""), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn empty_header_is_anonymous() {
        assert_eq!(parse_authorization(""), Ok(None));
        assert_eq!(parse_authorization("   "), Ok(None));
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(
            parse_authorization("token"),
            Err(CredentialsError::Malformed)
        );
        assert_eq!(
            parse_authorization("Bearer"),
            Err(CredentialsError::Malformed)
        );
        assert_eq!(
            parse_authorization(&format!("token {TOKEN} extra")),
            Err(CredentialsError::Malformed)
        );
        assert_eq!(
            parse_authorization("Basic"),
            Err(CredentialsError::Malformed)
        );
        assert_eq!(
            parse_authorization("Digest username=\"a\", realm=\"b\""),
            Err(CredentialsError::Malformed)
        );
        assert_eq!(parse_authorization(TOKEN), Err(CredentialsError::Malformed));
        assert_eq!(
            parse_authorization(&format!("Negotiate {TOKEN}")),
            Err(CredentialsError::UnknownScheme)
        );
        assert_eq!(
            parse_authorization("Digest username=\"a\""),
            Err(CredentialsError::UnknownScheme)
        );
        assert_eq!(
            parse_authorization("Basic !!!not-base64"),
            Err(CredentialsError::InvalidBase64)
        );
        let not_utf8 = STANDARD.encode([0xff, 0xfe, b':', b'a']);
        assert_eq!(
            parse_authorization(&format!("Basic {not_utf8}")),
            Err(CredentialsError::InvalidUtf8)
        );
        assert_eq!(
            parse_authorization(&basic("no-colon-here")),
            Err(CredentialsError::MissingColon)
        );
    }

    #[test]
    fn bare_tokens_only_where_asked_for() {
        let bare = "0123456789abcdef0123456789abcdef01234567";
        assert!(parse_authorization(bare).is_err());
        match parse_authorization_or_bare_token(bare) {
            Ok(Some(Credentials::Token(t))) => assert_eq!(t.expose(), bare),
            other => panic!("{other:?}"),
        }
        // Schemes still work, and a scheme alone is no token.
        assert!(matches!(
            parse_authorization_or_bare_token("token abc"),
            Ok(Some(Credentials::Token(_)))
        ));
        assert!(parse_authorization_or_bare_token("Basic").is_err());
        assert!(matches!(parse_authorization_or_bare_token(""), Ok(None)));
    }
}

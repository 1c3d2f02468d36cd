//! Property tests of `Authorization` parsing: no header value panics, and every credential a
//! client can encode comes back as sent.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use forge_auth::{parse_authorization, Credentials};
use proptest::prelude::*;

proptest! {
    #[test]
    fn no_header_value_panics(value in any::<String>()) {
        if let Ok(Some(c)) = parse_authorization(&value) {
            let _ = c.token_candidate();
            let _ = c.password_login();
            let _ = format!("{c:?}");
        }
    }

    #[test]
    fn basic_credentials_round_trip(user in "[^:]{0,40}", password in any::<String>()) {
        let header = format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
        match parse_authorization(&header) {
            Ok(Some(Credentials::Basic { username, password: p })) => {
                prop_assert_eq!(username, user);
                prop_assert_eq!(p.expose(), password.as_str());
            }
            other => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn tokens_round_trip(token in "[!-~]{1,80}", bearer in any::<bool>()) {
        let scheme = if bearer { "Bearer" } else { "token" };
        match parse_authorization(&format!("{scheme} {token}")) {
            Ok(Some(Credentials::Token(t))) => prop_assert_eq!(t.expose(), token.as_str()),
            other => prop_assert!(false, "{other:?}"),
        }
    }

    #[test]
    fn debug_never_shows_a_secret(token in "[a-f0-9]{40}") {
        let parsed = parse_authorization(&format!("token {token}")).unwrap().unwrap();
        let shown = format!("{:?}", parsed);
        prop_assert!(!shown.contains(&token));
        let basic = format!("Basic {}", STANDARD.encode(format!("u:{token}")));
        let parsed = parse_authorization(&basic).unwrap().unwrap();
        let shown = format!("{:?}", parsed);
        prop_assert!(!shown.contains(&token));
    }
}

//! Signed download links: `POST /api/v1/packages/{owner}/generic/{name}/{version}/files/
//! {file}/links` mints one, and a generic download carrying `?link_token=` is allowed by it
//! instead of by credentials. The token itself is [`forge_auth::signed_link`]; this module
//! decides lifetimes, builds the URL and checks that a link still names the file it is used
//! on. The checks themselves are the service's (`packages_service::links`).

pub use packages_service::links::{check_content, check_subject, now_unix, verify};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};

/// The query parameter of a download URL that carries a link's token.
pub const LINK_QUERY: &str = "link_token";

/// A link's lifetime when the request names none, in seconds (capped by the configured
/// maximum like any other).
pub const DEFAULT_TTL_SECS: u64 = 3600;

/// The optional body of a link request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    /// Seconds the link should work.
    pub expires_in: Option<i64>,
}

impl LinkRequest {
    /// Reads an optional JSON body; an empty one asks for the defaults.
    pub fn from_body(body: &[u8]) -> ApiResult<LinkRequest> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(LinkRequest::default());
        }
        serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
    }

    /// The lifetime to sign: the requested one (at least a second), capped by `max_secs`.
    pub fn ttl_secs(&self, max_secs: u64) -> ApiResult<u64> {
        let wanted = match self.expires_in {
            None => DEFAULT_TTL_SECS,
            Some(n) if n > 0 => n as u64,
            Some(_) => {
                return Err(ApiError::BadRequest(
                    "expires_in must be a positive number of seconds".to_owned(),
                ))
            }
        };
        Ok(wanted.min(max_secs))
    }
}

/// The link token in a request's query string, if any (decoded as browsers and curl
/// encode a query).
pub fn token_in_query(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == LINK_QUERY)
        .map(|(_, value)| value.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_tokens() {
        assert_eq!(token_in_query("link_token=a.b.c").as_deref(), Some("a.b.c"));
        assert_eq!(token_in_query("x=1&link_token=t&y=2").as_deref(), Some("t"));
        assert_eq!(token_in_query("link_tokens=t"), None);
        assert_eq!(token_in_query(""), None);
    }

    #[test]
    fn lifetimes() {
        let r = |n| LinkRequest { expires_in: n };
        assert_eq!(r(None).ttl_secs(100).unwrap(), 100);
        assert_eq!(r(None).ttl_secs(86_400).unwrap(), DEFAULT_TTL_SECS);
        assert_eq!(r(Some(5)).ttl_secs(100).unwrap(), 5);
        assert_eq!(r(Some(500)).ttl_secs(100).unwrap(), 100);
        assert!(r(Some(0)).ttl_secs(100).is_err());
        assert!(LinkRequest::from_body(b"{\"expires_in\":\"x\"}").is_err());
        assert!(LinkRequest::from_body(b" ").unwrap().expires_in.is_none());
    }
}

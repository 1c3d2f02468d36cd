//! Signed download links: the checks a download allowed by a link passes instead of
//! credentials. The token itself is [`forge_auth::signed_link`]; the HTTP side (the query
//! parameter, the request body of a new link) is `packages_api::links`.

use forge_auth::signed_link::LinkClaims;

use crate::error::{ServiceError, ServiceResult};
use crate::state::Service;

/// Seconds since the Unix epoch, as link claims count them.
pub fn now_unix() -> u64 {
    packages_core::clock::now_unix().max(0) as u64
}

/// Checks a link's signature, audience and expiry.
pub fn verify(state: &Service, token: &str) -> ServiceResult<LinkClaims> {
    Ok(state.settings.links.keys.verify(token, now_unix())?)
}

/// Refuses a link used on a file other than the one it names (`subject`).
pub fn check_subject(claims: &LinkClaims, subject: &str) -> ServiceResult<()> {
    if claims.sub == subject {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "the download link is for another file",
        ))
    }
}

/// Refuses a link whose file has been replaced by other content since it was made.
pub fn check_content(claims: &LinkClaims, sha256: &str) -> ServiceResult<()> {
    if claims.sha256 == sha256 {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "the file has changed since the download link was made",
        ))
    }
}

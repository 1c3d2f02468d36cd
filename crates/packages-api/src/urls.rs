//! Absolute URLs the server hands out (upload answers, signed links), built from the address
//! the client used.

use actix_web::HttpRequest;

/// `scheme://host` followed by `path` (already percent-encoded). The host is the one the
/// request was sent to (`Forwarded`/`X-Forwarded-Host` first, as a reverse proxy sets them),
/// so a client gets back a URL it can reach.
pub fn absolute(req: &HttpRequest, path: &str) -> String {
    let info = req.connection_info();
    format!("{}://{}{}", info.scheme(), info.host(), path)
}

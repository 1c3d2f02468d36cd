//! Absolute URLs the server hands out (upload answers, signed links), built from the address
//! the client used.

use actix_web::HttpRequest;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What Go's `url.PathEscape` leaves alone: unreserved characters and the sub-delimiters
/// allowed inside one path segment.
pub const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b':')
    .remove(b'=')
    .remove(b'@');

/// Escapes one path segment as Go's `url.PathEscape` does.
pub fn path_escape(segment: &str) -> String {
    utf8_percent_encode(segment, PATH_SEGMENT).to_string()
}

/// `scheme://host` followed by `path` (already percent-encoded). The host is the one the
/// request was sent to (`Forwarded`/`X-Forwarded-Host` first, as a reverse proxy sets them),
/// so a client gets back a URL it can reach.
pub fn absolute(req: &HttpRequest, path: &str) -> String {
    let info = req.connection_info();
    format!("{}://{}{}", info.scheme(), info.host(), path)
}

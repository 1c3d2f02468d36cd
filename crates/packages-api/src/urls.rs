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

/// Where this server is reached, as the request saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// `scheme://host[:port]`, without a trailing slash.
    pub base_url: String,
    /// Domain of placeholder addresses (`<name>@noreply.<domain>`): the host without port.
    pub noreply_domain: String,
}

impl Site {
    /// The site as seen by this request.
    pub fn of(req: &HttpRequest) -> Site {
        let info = req.connection_info();
        Site::new(info.scheme(), info.host())
    }

    /// The site for a scheme and a `Host` value.
    pub fn new(scheme: &str, host: &str) -> Site {
        Site {
            base_url: format!("{scheme}://{host}"),
            noreply_domain: format!("noreply.{}", host_without_port(host)),
        }
    }

    /// The web address of a user or organisation.
    pub fn owner_url(&self, name: &str) -> String {
        format!("{}/{}", self.base_url, path_escape(name))
    }
}

/// `example.com:3000` → `example.com`; `[::1]:3000` → `[::1]`.
fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// The decoded `key=value` pairs of a query string or form body, in order (`+` is a space,
/// invalid UTF-8 is replaced).
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of `key`, if any.
pub fn query_value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

//! Absolute URLs the server hands out (upload answers, signed links, registry locations),
//! built from `root_url` or the address the client used, believing forwarding headers only
//! from trusted proxies.

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

/// Marks a connection that arrived over the server's own TLS (connection data, set when the
/// connection is accepted).
#[derive(Debug, Clone, Copy)]
pub struct Tls;

/// How the client reached the server: the scheme, the host and the path prefix that absolute
/// URLs start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    /// `host[:port]`.
    pub host: String,
    /// The path prefix of `root_url` (empty without one).
    pub prefix: String,
}

impl Origin {
    /// `scheme://host/prefix`, without a trailing slash.
    pub fn base(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.prefix)
    }
}

/// The origin of this request: `[server] root_url` when set; otherwise, from a trusted proxy,
/// the scheme and host it forwards (`Forwarded`, `X-Forwarded-Proto`, `X-Forwarded-Host`);
/// from anyone else the `Host` header and the connection's own scheme (`https` over the
/// server's TLS). Forwarding headers from an untrusted peer are never believed, so nobody
/// can make the server hand out URLs of another host.
pub fn origin(req: &HttpRequest) -> Origin {
    let settings = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|state| state.settings.clone());
    if let Some(root) = settings.as_ref().and_then(|s| s.root_url.as_ref()) {
        return Origin {
            scheme: root.scheme.clone(),
            host: root.host.clone(),
            prefix: root.prefix.clone(),
        };
    }
    let trusted = match (&settings, req.peer_addr()) {
        (Some(settings), Some(peer)) => settings.trusted_proxies.trusts(peer.ip()),
        _ => false,
    };
    if trusted {
        let info = req.connection_info();
        return Origin {
            scheme: info.scheme().to_owned(),
            host: info.host().to_owned(),
            prefix: String::new(),
        };
    }
    let scheme = if req.conn_data::<Tls>().is_some() {
        "https"
    } else {
        "http"
    };
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| req.app_config().host().to_owned());
    Origin {
        scheme: scheme.to_owned(),
        host,
        prefix: String::new(),
    }
}

/// Whether the client reached the server over HTTPS (its own TLS, a trusted proxy's, or an
/// `https` root URL): cookies are `Secure` then.
pub fn is_secure(req: &HttpRequest) -> bool {
    origin(req).scheme == "https"
}

/// The request's origin followed by `path` (already percent-encoded): see [`origin`].
pub fn absolute(req: &HttpRequest, path: &str) -> String {
    format!("{}{path}", origin(req).base())
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
    /// The site as seen by this request (see [`origin`]).
    pub fn of(req: &HttpRequest) -> Site {
        let origin = origin(req);
        Site {
            base_url: origin.base(),
            noreply_domain: format!("noreply.{}", host_without_port(&origin.host)),
        }
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

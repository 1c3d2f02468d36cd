//! The server's public address (`[server] root_url`): when set, every absolute URL the
//! server emits starts with it, whatever headers a request carries.

/// A parsed `root_url`: `https://pkg.example.com/registry/` → scheme `https`, host
/// `pkg.example.com`, prefix `/registry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootUrl {
    pub scheme: String,
    /// `host[:port]`.
    pub host: String,
    /// The path the server is reached under, without a trailing slash (empty at the root).
    pub prefix: String,
}

impl RootUrl {
    /// Parses an absolute `http` or `https` URL without query or fragment.
    pub fn parse(text: &str) -> Result<RootUrl, String> {
        let text = text.trim();
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("{text:?} is not an absolute URL"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("{text:?} is not an http or https URL"));
        }
        if rest.contains(['?', '#', ' ', '\\']) {
            return Err(format!(
                "{text:?} may not have a query, a fragment or spaces"
            ));
        }
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if host.is_empty() || host.contains('@') {
            return Err(format!("{text:?} needs a host (and no user name)"));
        }
        Ok(RootUrl {
            scheme,
            host: host.to_ascii_lowercase(),
            prefix: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `scheme://host/prefix`, without a trailing slash.
    pub fn base(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scheme_host_and_prefix() {
        let r = RootUrl::parse("https://Pkg.Example.com/registry/").unwrap();
        assert_eq!(r.scheme, "https");
        assert_eq!(r.host, "pkg.example.com");
        assert_eq!(r.prefix, "/registry");
        assert_eq!(r.base(), "https://pkg.example.com/registry");
        assert_eq!(
            RootUrl::parse("http://h:3000").unwrap().base(),
            "http://h:3000"
        );
        for bad in [
            "ftp://h/",
            "h/x",
            "https://",
            "https://u@h/",
            "https://h/?q",
            "https://h/#f",
        ] {
            assert!(RootUrl::parse(bad).is_err(), "{bad}");
        }
    }
}

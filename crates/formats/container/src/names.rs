//! The registry's URL grammar: which route a path below `/v2` names, and the rules for
//! repository names, tags and digests (the distribution spec's grammar).

use std::sync::OnceLock;

use regex_lite::Regex;

use crate::errors::OciError;

/// A repository: `{owner}/{image}`, the image possibly with further `/` segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub owner: String,
    /// The package name: everything after the owner.
    pub image: String,
}

impl Repo {
    /// `owner/image`, as clients name it.
    pub fn full(&self) -> String {
        format!("{}/{}", self.owner, self.image)
    }

    /// Parses and checks a full repository name (`from=` of a mount, say).
    pub fn parse(name: &str) -> Result<Repo, OciError> {
        if !name_pattern().is_match(name) || name.len() > 255 {
            return Err(OciError::name_invalid(name));
        }
        let (owner, image) = name
            .split_once('/')
            .ok_or_else(|| OciError::name_invalid(name))?;
        Ok(Repo {
            owner: owner.to_owned(),
            image: image.to_owned(),
        })
    }
}

/// What a request path below `/v2` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: the API version check.
    Base,
    /// `/v2/token`: the token endpoint.
    Token,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/{name}/tags/list`.
    Tags(Repo),
    /// `/v2/{name}/manifests/{reference}`.
    Manifest(Repo, String),
    /// `/v2/{name}/blobs/{digest}`.
    Blob(Repo, String),
    /// `/v2/{name}/blobs/uploads/`.
    UploadStart(Repo),
    /// `/v2/{name}/blobs/uploads/{id}`.
    Upload(Repo, String),
    /// `/v2/{name}/referrers/{digest}`.
    Referrers(Repo, String),
}

impl Route {
    /// The route template, for metrics and logs.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Base => crate::BASE.template,
            Route::Token => crate::TOKEN.template,
            Route::Catalog => crate::CATALOG.template,
            Route::Tags(_) => crate::TAGS.template,
            Route::Manifest(..) => crate::MANIFEST.template,
            Route::Blob(..) => crate::BLOB.template,
            Route::UploadStart(_) => crate::UPLOADS.template,
            Route::Upload(..) => crate::UPLOAD.template,
            Route::Referrers(..) => crate::REFERRERS.template,
        }
    }
}

/// Why a path names no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRoute {
    /// Not a registry path at all (404 without a registry error code).
    Unknown,
    /// A registry path with an invalid repository name.
    Name(String),
}

/// Splits a raw path (starting with `/v2`) into a route. Names are checked against the
/// grammar; references and digests are checked by their handlers.
pub fn route(path: &str) -> Result<Route, NoRoute> {
    let rest = path.strip_prefix("/v2").ok_or(NoRoute::Unknown)?;
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let repo = |parts: &[&str]| -> Result<Repo, NoRoute> {
        let name = parts.join("/");
        Repo::parse(&name).map_err(|_| NoRoute::Name(name))
    };
    match segments.as_slice() {
        [] => Ok(Route::Base),
        ["token"] => Ok(Route::Token),
        ["_catalog"] => Ok(Route::Catalog),
        [name @ .., "tags", "list"] if name.len() >= 2 => Ok(Route::Tags(repo(name)?)),
        [name @ .., "manifests", reference] if name.len() >= 2 => {
            Ok(Route::Manifest(repo(name)?, (*reference).to_owned()))
        }
        [name @ .., "blobs", "uploads"] if name.len() >= 2 => Ok(Route::UploadStart(repo(name)?)),
        [name @ .., "blobs", "uploads", id] if name.len() >= 2 => {
            Ok(Route::Upload(repo(name)?, (*id).to_owned()))
        }
        [name @ .., "blobs", digest] if name.len() >= 2 => {
            Ok(Route::Blob(repo(name)?, (*digest).to_owned()))
        }
        [name @ .., "referrers", digest] if name.len() >= 2 => {
            Ok(Route::Referrers(repo(name)?, (*digest).to_owned()))
        }
        _ => Err(NoRoute::Unknown),
    }
}

fn name_pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        let component = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
        Regex::new(&format!("^{component}(?:/{component})+$")).expect("name pattern")
    })
}

fn tag_pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| Regex::new("^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$").expect("tag pattern"))
}

/// Whether `tag` is a valid tag.
pub fn is_tag(tag: &str) -> bool {
    tag_pattern().is_match(tag)
}

/// A content digest: `sha256:` and 64 lower-case hex digits, the only algorithm this
/// registry stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// The 64 hex digits.
    pub hex: String,
}

impl Digest {
    /// Parses a digest; another algorithm or a malformed value is an error naming it.
    pub fn parse(text: &str) -> Result<Digest, OciError> {
        let (algorithm, hex) = text
            .split_once(':')
            .ok_or_else(|| OciError::digest_invalid(format!("{text:?} is not a digest")))?;
        if algorithm != "sha256" {
            return Err(OciError::unsupported_digest(algorithm));
        }
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(OciError::digest_invalid(format!(
                "{text:?} is not a sha256 digest of 64 lower-case hex digits"
            )));
        }
        Ok(Digest {
            hex: hex.to_owned(),
        })
    }

    /// The digest of content whose SHA-256 is `hex`.
    pub fn of_hex(hex: &str) -> Digest {
        Digest {
            hex: hex.to_owned(),
        }
    }

    /// Whether `text` looks like a digest rather than a tag (it has a `:`, which no tag
    /// may).
    pub fn looks_like(text: &str) -> bool {
        text.contains(':')
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(owner: &str, image: &str) -> Repo {
        Repo {
            owner: owner.into(),
            image: image.into(),
        }
    }

    #[test]
    fn routes_split_the_name_from_the_action() {
        assert_eq!(route("/v2/"), Ok(Route::Base));
        assert_eq!(route("/v2"), Ok(Route::Base));
        assert_eq!(route("/v2/token"), Ok(Route::Token));
        assert_eq!(route("/v2/_catalog"), Ok(Route::Catalog));
        assert_eq!(
            route("/v2/user2/a/b/manifests/latest"),
            Ok(Route::Manifest(repo("user2", "a/b"), "latest".into()))
        );
        assert_eq!(
            route("/v2/user2/app/blobs/uploads/"),
            Ok(Route::UploadStart(repo("user2", "app")))
        );
        assert_eq!(
            route("/v2/user2/app/blobs/uploads/abc"),
            Ok(Route::Upload(repo("user2", "app"), "abc".into()))
        );
        assert_eq!(
            route("/v2/user2/app/tags/list"),
            Ok(Route::Tags(repo("user2", "app")))
        );
        // An image may itself be called "blobs" or "manifests".
        assert_eq!(
            route("/v2/user2/blobs/blobs/sha256:00"),
            Ok(Route::Blob(repo("user2", "blobs"), "sha256:00".into()))
        );
        assert_eq!(route("/v2/app/tags/list"), Err(NoRoute::Unknown));
        assert_eq!(
            route("/v2/user2/App/tags/list"),
            Err(NoRoute::Name("user2/App".into()))
        );
    }

    #[test]
    fn names_tags_and_digests_follow_the_grammar() {
        assert!(Repo::parse("user2/my-app.x/sub__b").is_ok());
        for bad in [
            "user2/",
            "user2/-x",
            "user2/x-",
            "User2/x",
            "user2/a..b",
            "solo",
        ] {
            assert!(Repo::parse(bad).is_err(), "{bad}");
        }
        assert!(is_tag("v1.0_rc-1"));
        assert!(is_tag(&"a".repeat(128)));
        for bad in [".x", "-x", "a:b", "", &"a".repeat(129)] {
            assert!(!is_tag(bad), "{bad}");
        }
        let hex = "a".repeat(64);
        assert_eq!(Digest::parse(&format!("sha256:{hex}")).unwrap().hex, hex);
        assert!(Digest::parse("sha256:ABC").is_err());
        assert!(Digest::parse(&format!("sha512:{hex}")).is_err());
        assert!(Digest::parse("latest").is_err());
    }
}

//! The npm format's rules: package names (npm's pattern, at most 214 characters), SemVer
//! versions, dist-tag names, the id forms a scoped name arrives in, and the names and URLs of
//! tarballs.

use std::sync::OnceLock;

use packages_core::{FormatRules, PackageType};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use regex_lite::Regex;

/// The npm format. Names are lowercase by rule, so they are looked up as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Npm;

impl FormatRules for Npm {
    fn package_type(&self) -> PackageType {
        PackageType::new("npm")
    }
}

/// Longest package name npm accepts.
pub const MAX_NAME: usize = 214;
/// Longest version or dist-tag kept (the bound every stored name has).
pub const MAX_VERSION: usize = packages_core::validation::MAX_FIELD_BYTES;

/// Version property: one dist-tag of the version (a version may hold several).
pub const TAG: &str = "npm.tag";
/// Version property: the deprecation message of the version.
pub const DEPRECATED: &str = "npm.deprecated";

/// What a URL segment is encoded with: everything but unreserved characters and `@`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'@')
    .remove(b'+');

fn name_pattern() -> &'static Regex {
    static P: OnceLock<Regex> = OnceLock::new();
    P.get_or_init(|| {
        Regex::new(r"\A(?:@[a-z0-9-][a-z0-9-._]*/)?[a-z0-9-][a-z0-9-._]*\z").expect("pattern")
    })
}

/// Whether `name` is a valid npm package name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME && name_pattern().is_match(name)
}

/// Parses a version as SemVer 2.0; `None` when it is not one (or too long to keep).
pub fn parse_version(version: &str) -> Option<semver::Version> {
    if version.len() > MAX_VERSION {
        return None;
    }
    semver::Version::parse(version).ok()
}

/// Whether a dist-tag name may be used: not empty, printable ASCII without `/`, `%` or
/// spaces, and not something that reads as a version (`1.0`, `v2`), which npm would take for
/// a version range.
pub fn valid_tag(tag: &str) -> bool {
    static LOOKS_LIKE_VERSION: OnceLock<Regex> = OnceLock::new();
    let version = LOOKS_LIKE_VERSION.get_or_init(|| {
        Regex::new(r"\A[vV]?[0-9]+(?:\.[0-9]+)*(?:-[0-9A-Za-z.-]*)?(?:\+[0-9A-Za-z.-]*)?\z")
            .expect("pattern")
    });
    !tag.is_empty()
        && tag.len() <= MAX_VERSION
        && tag
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b'%' | b'\\'))
        && !version.is_match(tag)
}

/// The package name a request path names: a scoped name arrives as one segment
/// (`@scope%2fname`, decoded to `@scope/name`) or as two (`@scope` and `name`). Returns the
/// name and how many segments it took.
pub fn name_in(segments: &[String]) -> Option<(String, usize)> {
    let first = segments.first()?;
    if first.starts_with('@') && !first.contains('/') {
        let second = segments.get(1)?;
        return Some((format!("{first}/{second}"), 2));
    }
    Some((first.clone(), 1))
}

/// The scope of a name without its `@` (`None` for unscoped names).
pub fn scope_of(name: &str) -> Option<&str> {
    name.strip_prefix('@')
        .and_then(|rest| rest.split_once('/'))
        .map(|(scope, _)| scope)
}

/// The name without its scope.
pub fn bare_name(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, bare)| bare)
}

/// The file name a version's tarball is stored under: `{bare name}-{version}.tgz`,
/// lowercase, as the reference registry names it.
pub fn tarball_name(name: &str, version: &str) -> String {
    packages_core::lower(&format!("{}-{version}.tgz", bare_name(name)))
}

/// A name as one URL segment, the way npm writes it: `@scope%2fname`.
pub fn id_segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT)
        .to_string()
        .replace("%2F", "%2f")
}

/// Any other text as one URL segment.
pub fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// The registry base of an owner, without the origin: `/api/packages/{owner}/npm`.
pub fn registry_path(owner: &str) -> String {
    format!("/api/packages/{}/npm", segment(owner))
}

/// The path of a version's tarball below the origin (what `dist.tarball` names).
pub fn tarball_path(owner: &str, name: &str, version: &str, file: &str) -> String {
    format!(
        "{}/{}/-/{}/{}",
        registry_path(owner),
        id_segment(name),
        segment(version),
        segment(file)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "left-pad", "@scope/name", "@s/n.js", "a_b", "0x"] {
            assert!(valid_name(ok), "{ok}");
        }
        let long = "a".repeat(MAX_NAME + 1);
        for bad in [
            "",
            "Upper",
            "@scope",
            "@/x",
            ".hidden",
            "_under",
            "a b",
            "@scope/",
            "a/b",
            long.as_str(),
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_name(&"a".repeat(MAX_NAME)));
    }

    #[test]
    fn versions() {
        assert!(parse_version("1.0.0").is_some());
        assert!(parse_version("1.0.0-beta.1+build").is_some());
        for bad in ["1.0", "v1.0.0", "", "1.0.0.0", "latest"] {
            assert!(parse_version(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tags() {
        for ok in ["latest", "beta", "next-1", "release_2", "v", "1a"] {
            assert!(valid_tag(ok), "{ok}");
        }
        for bad in [
            "",
            "1.0",
            "v1.0",
            "1",
            "1.0.0-rc.1",
            "V2",
            "a/b",
            "a b",
            "a%2f",
        ] {
            assert!(!valid_tag(bad), "{bad}");
        }
    }

    #[test]
    fn ids_in_paths() {
        let segs = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(name_in(&segs(&["a", "-"])), Some(("a".to_owned(), 1)));
        assert_eq!(name_in(&segs(&["@s/n"])), Some(("@s/n".to_owned(), 1)));
        assert_eq!(
            name_in(&segs(&["@s", "n", "-"])),
            Some(("@s/n".to_owned(), 2))
        );
        assert_eq!(name_in(&segs(&["@s"])), None);
        assert_eq!(id_segment("@s/n"), "@s%2fn");
        assert_eq!(scope_of("@s/n"), Some("s"));
        assert_eq!(scope_of("n"), None);
        assert_eq!(tarball_name("@s/Name", "1.0.0-RC"), "name-1.0.0-rc.tgz");
        assert_eq!(
            tarball_path("o", "@s/n", "1.0.0", "n-1.0.0.tgz"),
            "/api/packages/o/npm/@s%2fn/-/1.0.0/n-1.0.0.tgz"
        );
    }
}

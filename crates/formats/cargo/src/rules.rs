//! The Cargo format's rules: crate names (Forgejo's pattern: an ASCII letter, then letters,
//! digits, `-` and `_`, at most 64), SemVer versions, the sparse index's file paths, and the
//! name a `.crate` is stored under.

use std::sync::OnceLock;

use packages_core::{lower, FormatRules, PackageType};
use regex_lite::Regex;

/// The Cargo format. Names are compared case-insensitively (`Serde` is `serde`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cargo;

impl FormatRules for Cargo {
    fn package_type(&self) -> PackageType {
        PackageType::new("cargo")
    }
}

/// Version property: `true` while the version is yanked.
pub const YANKED: &str = "cargo.yanked";
/// Version property: when the version was last yanked or unyanked (Unix seconds), so the
/// index file's `Last-Modified` moves with it.
pub const CHANGED: &str = "cargo.changed";

fn name_pattern() -> &'static Regex {
    static P: OnceLock<Regex> = OnceLock::new();
    P.get_or_init(|| Regex::new(r"\A[a-zA-Z][a-zA-Z0-9_-]{0,63}\z").expect("pattern"))
}

/// Whether `name` is a crate name this registry takes.
pub fn valid_name(name: &str) -> bool {
    name_pattern().is_match(name)
}

/// Parses a version as SemVer 2.0 (`None` when it is not one, or too long to keep).
pub fn parse_version(version: &str) -> Option<semver::Version> {
    if version.len() > packages_core::validation::MAX_FIELD_BYTES {
        return None;
    }
    semver::Version::parse(version).ok()
}

/// The path of a crate's index file below the index root, lowercase: `1/{n}`, `2/{n}`,
/// `3/{first}/{n}`, `{n[0..2]}/{n[2..4]}/{n}`. `None` for a name no crate can have.
pub fn index_path(name: &str) -> Option<String> {
    if !valid_name(name) {
        return None;
    }
    let n = lower(name);
    Some(match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    })
}

/// The crate name an index path names, when the path is the one that name's file has.
pub fn name_of_index_path(segments: &[&str]) -> Option<String> {
    let name = *segments.last()?;
    let expected = index_path(name)?;
    (expected == lower(&segments.join("/"))).then(|| name.to_owned())
}

/// The file a version's `.crate` is stored under: `{name}-{version}.crate`, lowercase.
pub fn crate_file(name: &str, version: &str) -> String {
    lower(&format!("{name}-{version}.crate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "serde", "Serde_JSON", "x-1", "a".repeat(64).as_str()] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "1a", "-a", "a.b", "a b", "é", "a".repeat(65).as_str()] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn index_paths() {
        assert_eq!(index_path("a").unwrap(), "1/a");
        assert_eq!(index_path("Ab").unwrap(), "2/ab");
        assert_eq!(index_path("abc").unwrap(), "3/a/abc");
        assert_eq!(index_path("Serde").unwrap(), "se/rd/serde");
        assert_eq!(index_path("1x"), None);
        assert_eq!(
            name_of_index_path(&["se", "rd", "Serde"]).as_deref(),
            Some("Serde")
        );
        assert_eq!(
            name_of_index_path(&["3", "a", "abc"]).as_deref(),
            Some("abc")
        );
        assert_eq!(name_of_index_path(&["3", "b", "abc"]), None);
        assert_eq!(name_of_index_path(&["1", "ab"]), None);
        assert_eq!(name_of_index_path(&["config.json"]), None);
    }

    #[test]
    fn versions_and_files() {
        assert!(parse_version("1.0.0-alpha+b").is_some());
        assert!(parse_version("1.0").is_none());
        assert_eq!(crate_file("Serde", "1.0.0-RC"), "serde-1.0.0-rc.crate");
    }
}

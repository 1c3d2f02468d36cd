//! The PyPI format's rules: PEP 503 name normalisation, PEP 440 versions (the reference
//! registry's pattern), distribution file names that must match the package (PEP 427 wheels,
//! PEP 625 / legacy sdists), and the version metadata the registry keeps.

use std::sync::OnceLock;

use regex_lite::Regex;
use serde::{Deserialize, Serialize};

use packages_core::validation::{ValidationError, MAX_FIELD_BYTES};
use packages_core::FormatRules;
use packages_core::{lower, PackageType};

pub mod wheel;

/// The PyPI format. Names are compared in their PEP 503 normalised form.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pypi;

impl FormatRules for Pypi {
    fn package_type(&self) -> PackageType {
        PackageType::new("pypi")
    }

    fn lookup_name(&self, name: &str) -> String {
        normalize_name(name)
    }
}

/// The message for a name or version that breaks the rules (the reference registry's).
pub const INVALID_NAME_OR_VERSION: &str = "invalid name or version";

/// PEP 503: lowercase, every run of `-`, `_` and `.` becomes one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

fn name_pattern() -> &'static Regex {
    static P: OnceLock<Regex> = OnceLock::new();
    // PEP 508 names: ASCII letters and digits, with `.`, `_` and `-` inside.
    P.get_or_init(|| {
        Regex::new(r"\A(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9])\z").expect("pattern")
    })
}

fn version_pattern() -> &'static Regex {
    static P: OnceLock<Regex> = OnceLock::new();
    // PEP 440's public and local versions, as the reference registry accepts them.
    P.get_or_init(|| {
        Regex::new(concat!(
            r"\Av?",
            r"(?:[0-9]+!)?",
            r"[0-9]+(?:\.[0-9]+)*",
            r"(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?",
            r"(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?",
            r"(?:[-_.]?dev[-_.]?[0-9]*)?",
            r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?",
            r"\z"
        ))
        .expect("pattern")
    })
}

/// Checks a project name and a version as given in an upload.
pub fn check_name_and_version(name: &str, version: &str) -> Result<(), ValidationError> {
    let ok = name.len() <= MAX_FIELD_BYTES
        && version.len() <= MAX_FIELD_BYTES
        && name_pattern().is_match(name)
        && version_pattern().is_match(version);
    ok.then_some(())
        .ok_or(ValidationError::Rule(INVALID_NAME_OR_VERSION))
}

/// The kind of a distribution file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistKind {
    /// A built distribution (`.whl`).
    Wheel,
    /// A source distribution (`.tar.gz` or `.zip`).
    Sdist,
}

/// The form two version strings are compared in when a file name is matched: file names
/// write `-` as `_` and tools may change the case.
fn version_key(v: &str) -> String {
    lower(v).replace('_', "-")
}

/// Checks that `file` is a wheel or an sdist of `name` at `version` and says which.
pub fn check_file_name(name: &str, version: &str, file: &str) -> Result<DistKind, ValidationError> {
    let bad = |m| Err(ValidationError::Rule(m));
    if file.is_empty()
        || file.len() > MAX_FIELD_BYTES
        || file.starts_with('.')
        || !file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '!'))
    {
        return bad("invalid filename");
    }
    let lower_file = lower(file);
    let (kind, stem) = if let Some(stem) = lower_file.strip_suffix(".whl") {
        (DistKind::Wheel, stem)
    } else if let Some(stem) = lower_file.strip_suffix(".tar.gz") {
        (DistKind::Sdist, stem)
    } else if let Some(stem) = lower_file.strip_suffix(".zip") {
        (DistKind::Sdist, stem)
    } else {
        return bad("unsupported distribution file type, expected .whl, .tar.gz or .zip");
    };
    let (dist, file_version) = match kind {
        // {distribution}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}
        DistKind::Wheel => {
            let parts: Vec<&str> = stem.split('-').collect();
            if !(parts.len() == 5 || parts.len() == 6) || parts.iter().any(|p| p.is_empty()) {
                return bad("invalid wheel filename");
            }
            (parts[0].to_owned(), parts[1].to_owned())
        }
        // {name}-{version}, where older tools left `-` in the name.
        DistKind::Sdist => {
            let want = format!("-{}", version_key(version));
            match version_key(stem).strip_suffix(&want) {
                Some(dist) => (dist.to_owned(), version_key(version)),
                None => return bad("filename does not match the package version"),
            }
        }
    };
    if normalize_name(&dist) != normalize_name(name) {
        return bad("filename does not match the package name");
    }
    if version_key(&file_version) != version_key(version) {
        return bad("filename does not match the package version");
    }
    Ok(kind)
}

/// What the registry keeps of a version, under the reference registry's JSON names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub author: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub long_description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub summary: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project_url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub license: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub requires_python: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep_503_names() {
        assert_eq!(normalize_name("Friendly-Bard"), "friendly-bard");
        assert_eq!(normalize_name("FRIENDLY-BARD"), "friendly-bard");
        assert_eq!(normalize_name("friendly.bard"), "friendly-bard");
        assert_eq!(normalize_name("friendly_bard"), "friendly-bard");
        assert_eq!(normalize_name("friendly--bard"), "friendly-bard");
        assert_eq!(normalize_name("FrIeNdLy-._.-bArD"), "friendly-bard");
        assert_eq!(Pypi.lookup_name("My_Pkg"), "my-pkg");
    }

    #[test]
    fn names_and_versions() {
        for (name, version) in [
            ("a", "1"),
            ("Test_Pkg.x-1", "1.0.0"),
            ("p", "v1.0"),
            ("p", "1!2.0rc1.post2.dev3+local.7"),
            ("p", "1.0-1"),
            ("p", "2024.1a"),
        ] {
            assert_eq!(
                check_name_and_version(name, version),
                Ok(()),
                "{name} {version}"
            );
        }
        for (name, version) in [
            ("", "1"),
            ("-a", "1"),
            ("a-", "1"),
            ("a b", "1"),
            ("ä", "1"),
            ("a", ""),
            ("a", "1.0 "),
            ("a", "one"),
            ("a", "1..0"),
            ("a", "1.0+"),
        ] {
            assert_eq!(
                check_name_and_version(name, version),
                Err(ValidationError::Rule(INVALID_NAME_OR_VERSION)),
                "{name:?} {version:?}"
            );
        }
    }

    #[test]
    fn file_names() {
        use DistKind::*;
        let ok = [
            ("my.pkg", "1.0", "my_pkg-1.0-py3-none-any.whl", Wheel),
            (
                "My-Pkg",
                "1.0",
                "my_pkg-1.0-1-cp312-cp312-manylinux_2_17_x86_64.whl",
                Wheel,
            ),
            ("my-pkg", "1.0", "my_pkg-1.0.tar.gz", Sdist),
            ("my-pkg", "1.0", "my-pkg-1.0.tar.gz", Sdist),
            ("my-pkg", "1.0rc1", "My_Pkg-1.0RC1.zip", Sdist),
            ("a", "1.0-1", "a-1.0_1-py3-none-any.whl", Wheel),
        ];
        for (name, version, file, kind) in ok {
            assert_eq!(check_file_name(name, version, file), Ok(kind), "{file}");
        }
        let bad = [
            (
                "my-pkg",
                "1.0",
                "other-1.0-py3-none-any.whl",
                "filename does not match the package name",
            ),
            (
                "my-pkg",
                "1.0",
                "my_pkg-2.0-py3-none-any.whl",
                "filename does not match the package version",
            ),
            (
                "my-pkg",
                "1.0",
                "my_pkg-2.0.tar.gz",
                "filename does not match the package version",
            ),
            (
                "my-pkg",
                "1.0",
                "other-1.0.tar.gz",
                "filename does not match the package name",
            ),
            (
                "my-pkg",
                "1.0",
                "my_pkg-1.0-py3-any.whl",
                "invalid wheel filename",
            ),
            (
                "my-pkg",
                "1.0",
                "my_pkg-1.0.exe",
                "unsupported distribution file type, expected .whl, .tar.gz or .zip",
            ),
            ("my-pkg", "1.0", "../my_pkg-1.0.tar.gz", "invalid filename"),
            ("my-pkg", "1.0", "my pkg-1.0.tar.gz", "invalid filename"),
            ("my-pkg", "1.0", "", "invalid filename"),
        ];
        for (name, version, file, message) in bad {
            assert_eq!(
                check_file_name(name, version, file),
                Err(ValidationError::Rule(message)),
                "{file}"
            );
        }
    }

    #[test]
    fn metadata_json_names() {
        let m = Metadata {
            summary: "s".into(),
            requires_python: ">=3.8".into(),
            ..Metadata::default()
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"summary":"s","requires_python":">=3.8"}"#
        );
    }
}

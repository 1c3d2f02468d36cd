//! The generic format's rules for the parts of an upload URL, with the reference registry's
//! messages.
//!
//! The character classes are ASCII only: `\w` in the reference rules means `[0-9A-Za-z_]`.

use std::fmt;

use packages_core::validation::{ValidationError, MAX_FIELD_BYTES};
use packages_core::FormatRules;
use packages_core::PackageType;

/// The generic format: arbitrary files under `{name}/{version}/{file}`, names compared
/// case-insensitively.
#[derive(Debug, Clone, Copy, Default)]
pub struct Generic;

impl FormatRules for Generic {
    fn package_type(&self) -> PackageType {
        PackageType::Generic
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// The value as given by the client (its casing is kept).
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The case-folded value used for look-ups.
            pub fn lower(&self) -> String {
                packages_core::lower(&self.0)
            }

            /// Takes the value back.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

validated_string!(
    /// A package name: ASCII letters, digits and `-_+.`; not `..`; a single character must be
    /// a letter or a digit.
    PackageName
);
validated_string!(
    /// A file name inside a package version.
    FileName
);
validated_string!(
    /// A package version: any text without leading or trailing whitespace.
    PackageVersion
);

impl PackageName {
    /// Checks `s` against the package name rules.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let allowed = |c: char| is_word(c) || matches!(c, '-' | '+' | '.');
        let ok = !s.is_empty()
            && s.len() <= MAX_FIELD_BYTES
            && s.chars().all(allowed)
            && s != ".."
            && (s.len() > 1 || s.chars().all(|c| c.is_ascii_alphanumeric()));
        ok.then(|| PackageName(s.to_owned()))
            .ok_or(ValidationError::PackageName)
    }
}

impl FileName {
    /// Checks `s` against the file name rules.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let allowed = |c: char| {
            is_word(c)
                || matches!(
                    c,
                    '-' | '+'
                        | '='
                        | ':'
                        | ';'
                        | '.'
                        | '('
                        | ')'
                        | '['
                        | ']'
                        | '{'
                        | '}'
                        | '~'
                        | '!'
                        | '@'
                        | '#'
                        | '$'
                        | '%'
                        | '^'
                        | '&'
                        | ' '
                )
        };
        let ok = !s.is_empty()
            && s.len() <= MAX_FIELD_BYTES
            && s.chars().all(allowed)
            && s.trim() == s
            && s != "."
            && s != "..";
        ok.then(|| FileName(s.to_owned()))
            .ok_or(ValidationError::FileName)
    }
}

impl PackageVersion {
    /// Checks `s` against the version rules.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let ok = !s.is_empty() && s.len() <= MAX_FIELD_BYTES && s.trim() == s;
        ok.then(|| PackageVersion(s.to_owned()))
            .ok_or(ValidationError::PackageVersion)
    }
}

/// Validates the three parts of an upload in the order the reference registry does:
/// name, then file name, then version.
pub fn validate_upload(
    name: &str,
    version: &str,
    file: &str,
) -> Result<(PackageName, PackageVersion, FileName), ValidationError> {
    let name = PackageName::parse(name)?;
    let file = FileName::parse(file)?;
    let version = PackageVersion::parse(version)?;
    Ok((name, version, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names() {
        for bad in [
            "", ".", "..", "-", "a?b", "a b", "a/b", "_", "+", "é", "a\u{0}",
        ] {
            assert_eq!(
                PackageName::parse(bad),
                Err(ValidationError::PackageName),
                "{bad:?}"
            );
        }
        for good in [
            "a",
            "1",
            "a-",
            "a_b",
            "c.d+",
            "...",
            "-a",
            "--",
            "Te-St_PAC.kage",
        ] {
            assert_eq!(
                PackageName::parse(good).map(|n| n.into_inner()),
                Ok(good.to_owned())
            );
        }
    }

    #[test]
    fn file_names() {
        for bad in [
            "",
            ".",
            "..",
            "a?b",
            "a/b",
            " a",
            "a ",
            "inva|id.name",
            "a\\b",
            "ä",
            "a,b",
            "a\"b",
        ] {
            assert_eq!(
                FileName::parse(bad),
                Err(ValidationError::FileName),
                "{bad:?}"
            );
        }
        for good in [
            "-",
            "a",
            "1",
            "a-",
            "a_b",
            "a b",
            "c.d+",
            "-_+=:;.()[]{}~!@#$%^& aA1",
        ] {
            assert!(FileName::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn versions() {
        for bad in ["", " test ", " 1", "1 ", "1\t", "\u{a0}1"] {
            assert_eq!(
                PackageVersion::parse(bad),
                Err(ValidationError::PackageVersion),
                "{bad:?}"
            );
        }
        for good in ["1.0.3-te st", "1.0/2", "ünïcode", "V1"] {
            assert!(PackageVersion::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn length_limit_is_bytes() {
        let long = "a".repeat(MAX_FIELD_BYTES);
        assert!(PackageName::parse(&long).is_ok());
        assert!(FileName::parse(&long).is_ok());
        assert!(PackageVersion::parse(&long).is_ok());
        let longer = "a".repeat(MAX_FIELD_BYTES + 1);
        assert_eq!(
            PackageName::parse(&longer),
            Err(ValidationError::PackageName)
        );
        assert_eq!(FileName::parse(&longer), Err(ValidationError::FileName));
        assert_eq!(
            PackageVersion::parse(&longer),
            Err(ValidationError::PackageVersion)
        );
        // 128 two-byte characters are 256 bytes.
        assert!(PackageVersion::parse(&"é".repeat(128)).is_err());
    }

    #[test]
    fn order_is_name_file_version() {
        assert_eq!(
            validate_upload("a b", " v", "a|b").unwrap_err(),
            ValidationError::PackageName
        );
        assert_eq!(
            validate_upload("ab", " v", "a|b").unwrap_err(),
            ValidationError::FileName
        );
        assert_eq!(
            validate_upload("ab", " v", "ab").unwrap_err(),
            ValidationError::PackageVersion
        );
    }
}

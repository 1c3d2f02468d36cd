//! The name of a package format.
//!
//! Core knows no list of formats: each format declares its own type name and the HTTP layer
//! keeps the one list of registered formats. Rows carry the name as text.

use std::fmt;

/// A package format's name, as used in URLs, JSON and the database (`generic`, `pypi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageType(&'static str);

impl PackageType {
    /// The generic format: arbitrary files under a name and a version.
    #[allow(non_upper_case_globals)]
    pub const Generic: PackageType = PackageType("generic");

    /// A type of the given name: lowercase ASCII letters and digits, as in URLs.
    pub const fn new(name: &'static str) -> Self {
        PackageType(name)
    }

    /// The name used in URLs, JSON and the database.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for PackageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(PackageType::Generic.to_string(), "generic");
        assert_eq!(PackageType::new("pypi").as_str(), "pypi");
        assert_eq!(PackageType::new("generic"), PackageType::Generic);
    }
}

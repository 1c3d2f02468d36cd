//! What a package format decides without HTTP or a database: its type name and how names
//! are compared. Each format is a unit type implementing
//! [`FormatRules`] in its own module ([`crate::generic`], [`crate::pypi`]); the HTTP layer
//! adds its routes and keeps the one list of registered formats.

use crate::{lower, PackageType};

/// The rules of one package format.
pub trait FormatRules: Send + Sync + 'static {
    /// The name in URLs, JSON and the database.
    fn package_type(&self) -> PackageType;

    /// The form of a package name that look-ups compare (stored as `lower_name`). Most formats
    /// compare names case-insensitively; some normalise further (PyPI's PEP 503).
    fn lookup_name(&self, name: &str) -> String {
        lower(name)
    }

    /// Where the format keeps content before it is published, if it does; see [`Staging`].
    /// None by default.
    fn staging(&self) -> Option<Staging> {
        None
    }
}

/// A format's staging area: an internal version of each package holding content not yet
/// referenced by a published version (container blobs before a manifest names them). The
/// sweep removes its files after the grace period, and with them every other internal
/// version that nothing references and that does not carry `keeps_property` (a manifest
/// pushed by digest that no index lists and that refers to nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staging {
    pub version: &'static str,
    pub keeps_property: &'static str,
}

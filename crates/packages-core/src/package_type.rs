//! The package formats the registry serves.

use std::fmt;
use std::str::FromStr;

/// A package format. Each one has its own routes and rules; rows carry its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageType {
    /// Arbitrary files under a name and a version.
    Generic,
}

impl PackageType {
    /// Every known type, in display order.
    pub const ALL: &'static [PackageType] = &[PackageType::Generic];

    /// The name used in URLs, JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageType::Generic => "generic",
        }
    }
}

impl fmt::Display for PackageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The given string names no known package type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown package type")]
pub struct UnknownPackageType;

impl FromStr for PackageType {
    type Err = UnknownPackageType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PackageType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or(UnknownPackageType)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!("generic".parse::<PackageType>(), Ok(PackageType::Generic));
        assert_eq!("dummy".parse::<PackageType>(), Err(UnknownPackageType));
        assert_eq!(PackageType::Generic.to_string(), "generic");
    }
}

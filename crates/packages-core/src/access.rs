//! Owners' visibility and the access levels a doer can have on an owner's packages.

use std::fmt;
use std::str::FromStr;

/// Who may see an owner (a user or an organisation) and its packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone, signed in or not.
    Public,
    /// Every signed-in user.
    Limited,
    /// The owner itself, its members and site admins.
    Private,
}

impl Visibility {
    /// Stored integer form (the reference registry's numbering).
    pub fn as_i16(self) -> i16 {
        match self {
            Visibility::Public => 0,
            Visibility::Limited => 1,
            Visibility::Private => 2,
        }
    }

    /// Reads the stored integer form; unknown values are treated as private, the safe side.
    pub fn from_i16(v: i16) -> Self {
        match v {
            0 => Visibility::Public,
            1 => Visibility::Limited,
            _ => Visibility::Private,
        }
    }

    /// The lowercase name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Limited => "limited",
            Visibility::Private => "private",
        }
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The given string is not `public`, `limited` or `private`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("visibility must be public, limited or private")]
pub struct UnknownVisibility;

impl FromStr for Visibility {
    type Err = UnknownVisibility;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Visibility::Public),
            "limited" => Ok(Visibility::Limited),
            "private" => Ok(Visibility::Private),
            _ => Err(UnknownVisibility),
        }
    }
}

/// Whether an owner is a person or an organisation; both share one namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerKind {
    User,
    Organization,
}

impl OwnerKind {
    /// Stored integer form.
    pub fn as_i16(self) -> i16 {
        match self {
            OwnerKind::User => 0,
            OwnerKind::Organization => 1,
        }
    }

    /// Reads the stored integer form.
    pub fn from_i16(v: i16) -> Self {
        if v == 1 {
            OwnerKind::Organization
        } else {
            OwnerKind::User
        }
    }
}

/// Access a doer has on an owner's packages, ordered from nothing to everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessMode {
    None,
    Read,
    Write,
    Admin,
    Owner,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_and_round_trips() {
        assert!(AccessMode::None < AccessMode::Read);
        assert!(AccessMode::Write < AccessMode::Owner);
        for v in [Visibility::Public, Visibility::Limited, Visibility::Private] {
            assert_eq!(Visibility::from_i16(v.as_i16()), v);
            assert_eq!(v.as_str().parse::<Visibility>(), Ok(v));
        }
        assert_eq!(Visibility::from_i16(42), Visibility::Private);
    }
}

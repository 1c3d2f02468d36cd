//! Access token scopes with Forgejo's names, parsing rules and normal form.

use std::fmt;
use std::str::FromStr;

use packages_core::AccessMode;

/// An area of the API a token can be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeCategory {
    ActivityPub,
    Admin,
    Misc,
    Notification,
    Organization,
    Package,
    Issue,
    Repository,
    User,
}

impl ScopeCategory {
    /// Every category, in the order normalised scope strings list them.
    pub const ALL: [ScopeCategory; 9] = [
        ScopeCategory::ActivityPub,
        ScopeCategory::Admin,
        ScopeCategory::Misc,
        ScopeCategory::Notification,
        ScopeCategory::Organization,
        ScopeCategory::Package,
        ScopeCategory::Issue,
        ScopeCategory::Repository,
        ScopeCategory::User,
    ];

    /// The name after `read:` / `write:`.
    pub fn as_str(self) -> &'static str {
        self.names().0
    }

    /// (bare name, read scope, write scope). Kept as literals so scope names can be handed out
    /// as `&'static str` without allocating.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            ScopeCategory::ActivityPub => ("activitypub", "read:activitypub", "write:activitypub"),
            ScopeCategory::Admin => ("admin", "read:admin", "write:admin"),
            ScopeCategory::Misc => ("misc", "read:misc", "write:misc"),
            ScopeCategory::Notification => {
                ("notification", "read:notification", "write:notification")
            }
            ScopeCategory::Organization => {
                ("organization", "read:organization", "write:organization")
            }
            ScopeCategory::Package => ("package", "read:package", "write:package"),
            ScopeCategory::Issue => ("issue", "read:issue", "write:issue"),
            ScopeCategory::Repository => ("repository", "read:repository", "write:repository"),
            ScopeCategory::User => ("user", "read:user", "write:user"),
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// A scope list names something that is not a scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid access token scope: {0}")]
pub struct UnknownScope(pub String);

/// What a category grants; write implies read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Level {
    #[default]
    None,
    Read,
    Write,
}

/// The parsed scopes of a token.
///
/// Stored as a level per category rather than as the names given, so duplicates and implied
/// scopes (`read:x` next to `write:x`, anything next to `all`) collapse and two spellings of
/// the same grant compare equal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TokenScopes {
    levels: [Level; 9],
    public_only: bool,
}

impl TokenScopes {
    /// A token that may do everything (what `all` means).
    pub fn all() -> Self {
        TokenScopes {
            levels: [Level::Write; 9],
            public_only: false,
        }
    }

    /// Parses a comma-separated scope string such as `write:package,read:user`.
    ///
    /// As in Forgejo, empty entries and `sudo` are skipped, entries are not trimmed, names are
    /// case-sensitive, and any other unknown name rejects the whole string.
    pub fn parse(list: &str) -> Result<Self, UnknownScope> {
        let mut scopes = TokenScopes::default();
        scopes.add_all(list)?;
        Ok(scopes)
    }

    /// Parses a list of scope strings (as a JSON API receives them). Each element may itself
    /// hold a comma-separated list, because Forgejo joins the elements with commas before
    /// parsing.
    pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Self, UnknownScope> {
        let mut scopes = TokenScopes::default();
        for item in items {
            scopes.add_all(item.as_ref())?;
        }
        Ok(scopes)
    }

    fn add_all(&mut self, list: &str) -> Result<(), UnknownScope> {
        for entry in list.split(',') {
            self.add(entry)?;
        }
        Ok(())
    }

    fn add(&mut self, entry: &str) -> Result<(), UnknownScope> {
        match entry {
            // `sudo` is a leftover from the pre-1.19 scope set that Forgejo still tolerates.
            "" | "sudo" => {}
            "all" => self.levels = [Level::Write; 9],
            "public-only" => self.public_only = true,
            _ => {
                let (level, category) = entry
                    .split_once(':')
                    .and_then(|(level, name)| {
                        let level = match level {
                            "read" => Level::Read,
                            "write" => Level::Write,
                            _ => return None,
                        };
                        Some((level, ScopeCategory::from_name(name)?))
                    })
                    .ok_or_else(|| UnknownScope(entry.to_owned()))?;
                let slot = &mut self.levels[category.index()];
                *slot = (*slot).max(level);
            }
        }
        Ok(())
    }

    /// The normalised scope names, in a stable order: `public-only` first, then either `all`
    /// or one entry per granted category (`write:x` standing for both levels). This is what is
    /// stored and what the API returns.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.public_only {
            names.push("public-only");
        }
        if self.is_all() {
            names.push("all");
            return names;
        }
        for category in ScopeCategory::ALL {
            let (_, read, write) = category.names();
            match self.levels[category.index()] {
                Level::None => {}
                Level::Read => names.push(read),
                Level::Write => names.push(write),
            }
        }
        names
    }

    /// The normalised comma-joined form for storage; parsing it gives back an equal value.
    pub fn to_stored_string(&self) -> String {
        self.names().join(",")
    }

    /// Whether no scope at all was given (Forgejo refuses to create such a token).
    pub fn is_empty(&self) -> bool {
        *self == TokenScopes::default()
    }

    /// Whether the token may do everything.
    pub fn is_all(&self) -> bool {
        self.levels.iter().all(|l| *l == Level::Write)
    }

    /// Whether the token is limited to public (not private) owners and repositories.
    pub fn public_only(&self) -> bool {
        self.public_only
    }

    /// Whether the token grants `category` at read level, or at write level if `write`.
    pub fn allows(&self, category: ScopeCategory, write: bool) -> bool {
        let needed = if write { Level::Write } else { Level::Read };
        self.levels[category.index()] >= needed
    }

    /// Whether the token may perform a package operation that needs `level` on the owner.
    ///
    /// Read needs `read:package`; Write needs `write:package` (`all` implies both). Package
    /// scopes have no level above write, so Admin and Owner requirements need `write:package`
    /// here and are left to the access-mode check.
    pub fn allows_package(&self, level: AccessMode) -> bool {
        match level {
            AccessMode::None => true,
            AccessMode::Read => self.allows(ScopeCategory::Package, false),
            AccessMode::Write | AccessMode::Admin | AccessMode::Owner => {
                self.allows(ScopeCategory::Package, true)
            }
        }
    }
}

impl FromStr for TokenScopes {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TokenScopes::parse(s)
    }
}

impl fmt::Display for TokenScopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_stored_string())
    }
}

/// Serialises as the JSON list of normalised names, the shape Forgejo's API returns.
impl serde::Serialize for TokenScopes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.names())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> TokenScopes {
        TokenScopes::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn single_scopes() {
        let read = parsed("read:package");
        assert!(read.allows_package(AccessMode::Read));
        assert!(!read.allows_package(AccessMode::Write));
        assert!(!read.public_only());

        let write = parsed("write:package");
        assert!(write.allows_package(AccessMode::Read), "write implies read");
        assert!(write.allows_package(AccessMode::Write));
        assert!(!write.allows(ScopeCategory::User, false));

        let all = parsed("all");
        assert!(all.is_all());
        for category in ScopeCategory::ALL {
            assert!(all.allows(category, true));
        }
        assert!(all.allows_package(AccessMode::Owner));

        let other = parsed("write:user,read:organization");
        assert!(!other.allows_package(AccessMode::Read));
        assert!(other.allows(ScopeCategory::User, true));
        assert!(other.allows(ScopeCategory::Organization, false));
        assert!(!other.allows(ScopeCategory::Organization, true));
        assert!(!other.allows(ScopeCategory::Admin, false));
    }

    #[test]
    fn every_known_name_parses_and_round_trips() {
        for category in ScopeCategory::ALL {
            for level in ["read", "write"] {
                let name = format!("{level}:{}", category.as_str());
                let scopes = parsed(&name);
                assert_eq!(scopes.to_stored_string(), name);
                assert!(scopes.allows(category, false));
                assert_eq!(scopes.allows(category, true), level == "write");
            }
        }
    }

    #[test]
    fn ignored_entries() {
        assert!(parsed("").is_empty());
        assert!(parsed(",,").is_empty());
        assert!(parsed("sudo").is_empty());
        assert_eq!(parsed(",read:package,,sudo,"), parsed("read:package"));
        assert_eq!(parsed("").names(), Vec::<&str>::new());
    }

    #[test]
    fn unknown_names_are_rejected() {
        for bad in [
            "read:packages",
            "Read:package",
            "READ:PACKAGE",
            "admin:package",
            "read:",
            "read",
            "write:actions",
            "everything",
            " read:package",
            "read:package ",
            "read:package,nope",
        ] {
            assert!(TokenScopes::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            TokenScopes::parse("read:package,nope"),
            Err(UnknownScope("nope".into()))
        );
        assert_eq!(
            TokenScopes::parse_list(&["read:package".to_owned(), "bogus".to_owned()]),
            Err(UnknownScope("bogus".into()))
        );
    }

    #[test]
    fn normalisation() {
        // Duplicates and implied scopes collapse; order is fixed.
        assert_eq!(
            parsed("read:user,write:package,read:package,read:user").to_stored_string(),
            "write:package,read:user"
        );
        assert_eq!(
            parsed("read:package,public-only").to_stored_string(),
            "public-only,read:package"
        );
        // Anything next to `all` is implied by it.
        assert_eq!(
            parsed("read:user,all,write:admin").to_stored_string(),
            "all"
        );
        assert_eq!(
            parsed("all,public-only").to_stored_string(),
            "public-only,all"
        );
        // Every category at write level is `all`.
        let every_write: Vec<String> = ScopeCategory::ALL
            .iter()
            .map(|c| format!("write:{}", c.as_str()))
            .collect();
        let scopes = TokenScopes::parse_list(&every_write).expect("valid");
        assert_eq!(scopes, TokenScopes::all());
        assert_eq!(scopes.to_stored_string(), "all");
        // Normal form is a fixed point.
        for s in [
            "public-only,write:package,read:user",
            "all",
            "",
            "public-only",
        ] {
            assert_eq!(parsed(s).to_stored_string(), s);
            assert_eq!(parsed(&parsed(s).to_string()), parsed(s));
        }
    }

    #[test]
    fn list_elements_may_hold_commas() {
        let scopes = TokenScopes::parse_list(&["write:package,read:user", "", "public-only"])
            .expect("valid");
        assert_eq!(
            scopes.names(),
            ["public-only", "write:package", "read:user"]
        );
        assert!(scopes.public_only());
    }

    #[test]
    fn public_only_grants_nothing_by_itself() {
        let scopes = parsed("public-only");
        assert!(scopes.public_only());
        assert!(!scopes.is_empty());
        assert!(!scopes.allows_package(AccessMode::Read));
    }

    #[test]
    fn serialises_as_a_list_of_names() {
        let json = serde_json::to_string(&parsed("read:user,write:package")).expect("json");
        assert_eq!(json, r#"["write:package","read:user"]"#);
        assert_eq!(serde_json::to_string(&parsed("")).expect("json"), "[]");
    }
}

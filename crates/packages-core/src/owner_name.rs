//! Rules for the names of owners (users and organisations share one namespace) and for
//! e-mail addresses, after the reference forge's form rules.

use crate::lower;

/// Why an owner name was refused; the message is shown to clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerNameError {
    #[error("invalid name {0:?}: use at most {MAX_NAME_CHARS} ASCII letters, digits, '-', '_' or '.', starting with a letter or digit, without two symbols in a row or one at the end")]
    Malformed(String),
    #[error("name is reserved [name: {0}]")]
    Reserved(String),
    #[error("name pattern is not allowed [pattern: {0}]")]
    ReservedPattern(String),
}

/// Longest user or organisation name.
pub const MAX_NAME_CHARS: usize = 40;

/// Names that would clash with the web interface's routes, as Gitea reserves them.
const RESERVED_NAMES: &[&str] = &[
    ".",
    "..",
    ".well-known",
    "admin",
    "api",
    "assets",
    "attachments",
    "avatar",
    "avatars",
    "captcha",
    "commits",
    "debug",
    "error",
    "explore",
    "favicon.ico",
    "ghost",
    "issues",
    "login",
    "manifest.json",
    "metrics",
    "milestones",
    "new",
    "notifications",
    "org",
    "pulls",
    "raw",
    "repo",
    "repo-avatars",
    "robots.txt",
    "search",
    "serviceworker.js",
    "ssh_info",
    "swagger.v1.json",
    "user",
    "v2",
    "gitea-actions",
];

/// Suffixes Gitea reserves because its web routes serve such files under a user's name.
const RESERVED_SUFFIXES: &[&str] = &[".keys", ".gpg", ".rss", ".atom", ".png"];

/// Checks a new user or organisation name: an ASCII letter or digit first, then letters,
/// digits, `-`, `_` and `.`, never two of those symbols in a row nor one at the end, at most
/// 40 characters, and not a reserved name.
pub fn check_owner_name(name: &str) -> Result<(), OwnerNameError> {
    let is_symbol = |c: char| matches!(c, '-' | '_' | '.');
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || is_symbol(c))
        && !name.ends_with(is_symbol)
        && !name
            .as_bytes()
            .windows(2)
            .any(|w| is_symbol(char::from(w[0])) && is_symbol(char::from(w[1])))
        && name.len() <= MAX_NAME_CHARS;
    if !well_formed {
        return Err(OwnerNameError::Malformed(name.to_owned()));
    }
    let lowered = lower(name);
    if RESERVED_NAMES.contains(&lowered.as_str()) {
        return Err(OwnerNameError::Reserved(name.to_owned()));
    }
    if RESERVED_SUFFIXES.iter().any(|s| lowered.ends_with(s)) {
        return Err(OwnerNameError::ReservedPattern(name.to_owned()));
    }
    Ok(())
}

/// Whether an e-mail address is plausible: one `@`, a local part of the characters RFC 5322
/// allows unquoted (not starting with `-`), and a domain of letter/digit/hyphen labels.
pub fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && !local.starts_with('-')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+-/=?^_`{|}~".contains(c));
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    email.len() <= 254 && local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_names() {
        for good in ["a", "user2", "org-17", "a.b_c", "A1"] {
            assert_eq!(check_owner_name(good), Ok(()), "{good}");
        }
        for bad in ["", "-a", "a-", "a--b", "a._b", "ä", "a b", &"a".repeat(41)] {
            assert!(
                matches!(check_owner_name(bad), Err(OwnerNameError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            check_owner_name("Admin"),
            Err(OwnerNameError::Reserved(_))
        ));
        assert!(matches!(
            check_owner_name("bob.keys"),
            Err(OwnerNameError::ReservedPattern(_))
        ));
    }

    #[test]
    fn emails() {
        assert!(is_email("a@example.com"));
        assert!(is_email("first.last+tag@sub.example.org"));
        for bad in [
            "", "a", "@x", "a@", "-a@x.io", "a@-x.io", "a b@x.io", "a@x..io",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}

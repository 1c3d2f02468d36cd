//! Input rules of the management API, after Gitea's form bindings. A broken rule is a 422
//! (Gitea's binding errors) unless a handler says otherwise.

use packages_core::{lower, Visibility};

use crate::error::{ApiError, ApiResult};

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

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::Unprocessable(message.into())
}

/// Checks a new user or organisation name: an ASCII letter or digit first, then letters,
/// digits, `-`, `_` and `.`, never two of those symbols in a row nor one at the end, at most
/// 40 characters, and not a reserved name.
pub fn owner_name(name: &str) -> ApiResult<()> {
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
        return Err(invalid(format!(
            "invalid name {name:?}: use at most {MAX_NAME_CHARS} ASCII letters, digits, '-', '_' \
             or '.', starting with a letter or digit, without two symbols in a row or one at the end"
        )));
    }
    let lowered = lower(name);
    if RESERVED_NAMES.contains(&lowered.as_str()) {
        return Err(invalid(format!("name is reserved [name: {name}]")));
    }
    if RESERVED_SUFFIXES.iter().any(|s| lowered.ends_with(s)) {
        return Err(invalid(format!(
            "name pattern is not allowed [pattern: {name}]"
        )));
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

/// Checks an e-mail address for a new account.
pub fn email(email: &str) -> ApiResult<()> {
    if is_email(email) {
        Ok(())
    } else {
        Err(invalid(format!("e-mail invalid [email: {email}]")))
    }
}

/// Reads a visibility; empty means "not given".
pub fn visibility(value: &str) -> ApiResult<Option<Visibility>> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| invalid("visibility must be public, limited or private"))
}

/// Checks that a free-text field is at most `max` characters.
pub fn max_chars(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.chars().count() > max {
        return Err(invalid(format!("{field} must be at most {max} characters")));
    }
    Ok(())
}

/// Checks a website: empty, or an absolute `http`/`https` address of at most 255 characters.
pub fn website(value: &str) -> ApiResult<()> {
    max_chars("website", value, 255)?;
    let lowered = value.to_ascii_lowercase();
    let ok = value.is_empty()
        || ["http://", "https://"].iter().any(|scheme| {
            lowered
                .strip_prefix(scheme)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
        });
    if ok {
        Ok(())
    } else {
        Err(invalid("website must be an http or https URL"))
    }
}

/// Checks a team name: 1 to 255 letters, digits, `-`, `_` and `.`.
pub fn team_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "team name must be 1 to 255 ASCII letters, digits, '-', '_' or '.'",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_names() {
        for ok in ["a", "user1", "A.b-c_d", "x9", "a-b.c"] {
            assert!(owner_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            "a-",
            "a.",
            "a..b",
            "a-_b",
            "a b",
            "ä",
            "a/b",
            &"x".repeat(41),
        ] {
            assert!(owner_name(bad).is_err(), "{bad:?}");
        }
        for reserved in ["admin", "Ghost", "API", "user", "me.keys", "x.PNG"] {
            assert!(owner_name(reserved).is_err(), "{reserved}");
        }
        assert!(owner_name(&"x".repeat(40)).is_ok());
    }

    #[test]
    fn emails() {
        for ok in ["a@b", "a.b+c@example.com", "x_y@sub.example-site.org"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "@b", "a@", "a@b@c", "-a@b", "a b@c", "a@-b", "a@b..c", "a@b_c",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn visibilities_and_websites() {
        assert_eq!(visibility("").ok(), Some(None));
        assert_eq!(visibility("private").ok(), Some(Some(Visibility::Private)));
        assert!(visibility("secret").is_err());
        assert!(visibility("Public").is_err());
        assert!(website("").is_ok());
        assert!(website("https://example.com/x").is_ok());
        assert!(website("HTTP://example.com").is_ok());
        assert!(website("ftp://example.com").is_err());
        assert!(website("example.com").is_err());
        assert!(website("https://").is_err());
    }

    #[test]
    fn team_names() {
        assert!(team_name("Release-Managers_2.0").is_ok());
        assert!(team_name("").is_err());
        assert!(team_name("a b").is_err());
    }
}

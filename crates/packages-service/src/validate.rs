//! Input rules of the management API, after Gitea's form bindings. A broken rule is a 422
//! (Gitea's binding errors) unless a handler says otherwise.

use packages_core::Visibility;

use crate::error::{ServiceError, ServiceResult};

/// Checks a new user or organisation name (the rules live in `packages_core`).
pub fn owner_name(name: &str) -> ServiceResult<()> {
    packages_core::check_owner_name(name).map_err(|e| ServiceError::Refused(e.to_string()))
}

pub use packages_core::is_email;

/// Maps a failed insert of a user or organisation: a taken name (the two share one
/// namespace) is Gitea's 422, anything else goes through the usual map.
pub fn name_taken<'a>(
    name: &'a str,
    email: &'a str,
) -> impl FnOnce(packages_db::DbError) -> ServiceError + 'a {
    move |e| match e {
        packages_db::DbError::Conflict(_) => {
            ServiceError::Refused(format!("user already exists [name: {name}]"))
        }
        packages_db::DbError::EmailTaken => ServiceError::Refused(email_taken_message(email)),
        other => other.into(),
    }
}

/// Gitea's message for an address another account has.
pub fn email_taken_message(email: &str) -> String {
    format!("e-mail already in use [email: {email}]")
}

fn invalid(message: impl Into<String>) -> ServiceError {
    ServiceError::Refused(message.into())
}

/// Checks an e-mail address for a new account.
pub fn email(email: &str) -> ServiceResult<()> {
    if is_email(email) {
        Ok(())
    } else {
        Err(invalid(format!("e-mail invalid [email: {email}]")))
    }
}

/// Reads a visibility; empty means "not given".
pub fn visibility(value: &str) -> ServiceResult<Option<Visibility>> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| invalid("visibility must be public, limited or private"))
}

/// Checks that a free-text field is at most `max` characters and holds no NUL (which no
/// database text column can store).
pub fn max_chars(field: &str, value: &str, max: usize) -> ServiceResult<()> {
    if value.contains('\0') {
        return Err(invalid(format!("{field} must not contain NUL characters")));
    }
    if value.chars().count() > max {
        return Err(invalid(format!("{field} must be at most {max} characters")));
    }
    Ok(())
}

/// Checks a website: empty, or an absolute `http`/`https` address of at most 255 characters.
pub fn website(value: &str) -> ServiceResult<()> {
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
pub fn team_name(name: &str) -> ServiceResult<()> {
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

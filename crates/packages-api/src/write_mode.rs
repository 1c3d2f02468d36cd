//! Conditional uploads (RFC 9110 §13.1): how a `PUT` treats a file that already exists.
//!
//! Without conditions an upload only creates, and an existing file is a 409 as in the
//! reference registry. `If-None-Match: *` asks for the same with the standard 412.
//! `If-Match` with the entity tag of the current file (`"<sha256>"`, as downloads send it)
//! or `*` replaces it atomically; a stale tag is a 412 and changes nothing.

use actix_web::http::header::{self, HeaderMap};

use crate::error::{ApiError, ApiResult};

/// What an upload may do to an existing file of the same name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteMode {
    /// Create; an existing file is a 409.
    #[default]
    Create,
    /// `If-None-Match: *`: create; an existing file is a 412.
    CreateOnly,
    /// `If-Match`: replace the existing file if its content is one of these SHA-256 digests
    /// (any content for `*`); a missing file is a 412.
    Replace(Option<Vec<String>>),
}

/// Why a conditional upload was refused.
pub use packages_service::error::PRECONDITION_FAILED;

impl WriteMode {
    /// Reads `If-Match` and `If-None-Match` of an upload.
    pub fn of(headers: &HeaderMap) -> ApiResult<WriteMode> {
        let text = |name: header::HeaderName| -> ApiResult<Option<&str>> {
            headers
                .get(&name)
                .map(|v| {
                    v.to_str()
                        .map_err(|_| ApiError::BadRequest(format!("malformed {name} header")))
                })
                .transpose()
        };
        let if_match = text(header::IF_MATCH)?;
        let if_none_match = text(header::IF_NONE_MATCH)?;
        match (if_match, if_none_match) {
            (Some(_), Some(_)) => Err(ApiError::BadRequest(
                "If-Match and If-None-Match cannot be combined on an upload".to_owned(),
            )),
            (None, Some(v)) if v.trim() == "*" => Ok(WriteMode::CreateOnly),
            (None, Some(_)) => Err(ApiError::BadRequest(
                "an upload takes only If-None-Match: *".to_owned(),
            )),
            (Some(v), None) if v.trim() == "*" => Ok(WriteMode::Replace(None)),
            (Some(v), None) => Ok(WriteMode::Replace(Some(strong_tags(v)?))),
            (None, None) => Ok(WriteMode::Create),
        }
    }

    /// The answer when a file of the same name exists and this mode does not replace it.
    pub fn exists_error(&self) -> ApiError {
        match self {
            WriteMode::CreateOnly => ApiError::PreconditionFailed(PRECONDITION_FAILED),
            _ => ApiError::Conflict("package file already exists"),
        }
    }

    /// Whether an existing file with content `sha256` may be replaced.
    pub fn matches(&self, sha256: &str) -> bool {
        match self {
            WriteMode::Replace(None) => true,
            WriteMode::Replace(Some(tags)) => tags.iter().any(|t| t == sha256),
            _ => false,
        }
    }
}

/// The SHA-256 digests named by a list of strong entity tags. Weak tags never match a strong
/// comparison, so they are dropped; a list that names nothing readable is refused.
fn strong_tags(list: &str) -> ApiResult<Vec<String>> {
    let mut tags = Vec::new();
    for raw in list.split(',').map(str::trim) {
        if raw.starts_with("W/") {
            continue;
        }
        let tag = raw
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .ok_or_else(|| ApiError::BadRequest(format!("malformed entity tag {raw:?}")))?;
        tags.push(tag.to_ascii_lowercase());
    }
    Ok(tags)
}

/// Whether an upload may replace one of the owner's files: the server allows it and the
/// owner has not forbidden it. Blocking.
pub fn replace_allowed(state: &packages_service::Service, owner_id: i64) -> ApiResult<bool> {
    if !state.settings.allow_replace {
        return Ok(false);
    }
    Ok(state.db.owner_allow_replace(owner_id)?.unwrap_or(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn mode(pairs: &[(header::HeaderName, &str)]) -> ApiResult<WriteMode> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        WriteMode::of(&h)
    }

    #[test]
    fn reads_the_conditions() {
        assert_eq!(mode(&[]).unwrap(), WriteMode::Create);
        assert_eq!(
            mode(&[(header::IF_NONE_MATCH, "*")]).unwrap(),
            WriteMode::CreateOnly
        );
        assert_eq!(
            mode(&[(header::IF_MATCH, "*")]).unwrap(),
            WriteMode::Replace(None)
        );
        let m = mode(&[(header::IF_MATCH, "\"AB\", W/\"cd\", \"ef\"")]).unwrap();
        assert_eq!(m, WriteMode::Replace(Some(vec!["ab".into(), "ef".into()])));
        assert!(m.matches("ef") && !m.matches("cd"));
        assert!(mode(&[(header::IF_MATCH, "abc")]).is_err());
        assert!(mode(&[(header::IF_NONE_MATCH, "\"x\"")]).is_err());
        assert!(mode(&[(header::IF_MATCH, "*"), (header::IF_NONE_MATCH, "*")]).is_err());
    }
}

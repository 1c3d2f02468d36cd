//! The sparse index: `config.json` and one file per crate, each line a version.
//!
//! Both are built from the rows on every request: the publish's own transaction is what the
//! index reads, so every instance lists a version the moment the publish answers (cargo
//! polls the index right after publishing). `ETag` and `Last-Modified` let cargo revalidate.

use std::collections::{HashMap, HashSet};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use packages_core::{AccessMode, FormatRules, Visibility};
use packages_db::PropertyOf;
use sha2::{Digest, Sha256};

use crate::publish::{IndexLine, Kept};
use crate::rules::{Cargo, CHANGED, YANKED};
use packages_api::auth::authenticate;
use packages_api::blocking;
use packages_api::error::{ApiError, ApiResult};
use packages_api::formats::Format;
use packages_api::serve::still_fresh;
use packages_api::state::AppState;
use packages_service::access::authorize_owner;

/// The registry's URLs as `config.json` gives them, below the origin.
pub fn api_path(owner: &str) -> String {
    format!(
        "/api/packages/{}/cargo",
        percent_encoding::utf8_percent_encode(owner, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// The owner's id once read access is granted; for a private owner without credentials the
/// 401 carries cargo's login hint. Blocking.
pub fn readable_owner(
    state: &AppState,
    credentials: Option<forge_auth::Credentials>,
    owner: &str,
) -> ApiResult<packages_db::User> {
    let auth = authenticate(state, credentials)?;
    Ok(authorize_owner(state, &auth, owner, AccessMode::Read)?.owner)
}

/// `GET config.json`: where downloads and the API are, and whether cargo must send its token
/// for reads too.
pub async fn config(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
) -> ApiResult<HttpResponse> {
    let credentials = Cargo.credentials(req.headers())?;
    let api = format!(
        "{}{}",
        packages_api::urls::origin(&req).base(),
        api_path(&owner)
    );
    let state = state.into_inner();
    let private = blocking::run(move || {
        let user = readable_owner(&state, credentials, &owner)?;
        Ok(user.visibility != Visibility::Public || state.settings.require_signin_view)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "dl": format!("{api}/api/v1/crates"),
        "api": api,
        "auth-required": private,
    })))
}

/// Per version: whether it is yanked and when a yank or unyank last changed it.
type Marks = HashMap<i64, (bool, i64)>;

/// The yank marks of these versions. Blocking.
fn marks(state: &AppState, ids: &[i64]) -> ApiResult<Marks> {
    let mut marks = Marks::new();
    for (id, name, value) in state.db.properties(PropertyOf::Version, ids)? {
        let mark = marks.entry(id).or_default();
        match name.as_str() {
            YANKED => mark.0 = value == "true",
            CHANGED => mark.1 = mark.1.max(value.parse().unwrap_or(0)),
            _ => {}
        }
    }
    Ok(marks)
}

/// An index file's validators. A version's line never changes but for its yank flag, and
/// version ids are never reused, so the ids with their flags say exactly which content a
/// file has: the `ETag` is made of them, and a revalidation needs neither the files nor the
/// metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub etag: String,
    /// Unix seconds of the newest publish, yank or unyank.
    pub modified: i64,
}

impl Stamp {
    fn of(versions: &[(i64, i64)], marks: &Marks) -> Stamp {
        let mut hash = Sha256::new();
        let mut modified = 0;
        for &(id, created) in versions {
            let (yanked, changed) = marks.get(&id).copied().unwrap_or_default();
            hash.update(id.to_le_bytes());
            hash.update([u8::from(yanked)]);
            modified = modified.max(created).max(changed);
        }
        Stamp {
            etag: format!("\"{}\"", &hex::encode(hash.finalize())[..32]),
            modified,
        }
    }
}

/// The lines of a crate's index file; `None` without versions. Blocking.
fn lines(state: &AppState, owner_id: i64, name: &str) -> ApiResult<Option<(Vec<u8>, Stamp)>> {
    let Some((_, files)) =
        state
            .db
            .package_files(owner_id, Cargo.package_type(), &Cargo.lookup_name(name))?
    else {
        return Ok(None);
    };
    let mut seen = HashSet::new();
    let files: Vec<_> = files
        .into_iter()
        .filter(|f| seen.insert(f.version.id))
        .collect();
    let versions: Vec<(i64, i64)> = files
        .iter()
        .map(|f| (f.version.id, f.version.created_unix))
        .collect();
    let ids: Vec<i64> = versions.iter().map(|(id, _)| *id).collect();
    let marks = marks(state, &ids)?;
    let mut body = Vec::new();
    for f in &files {
        let kept: Kept = f
            .version
            .metadata_json
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        let Some(mut line): Option<IndexLine> = kept.index else {
            continue;
        };
        line.cksum = f.blob.hash_sha256.clone();
        line.yanked = marks.get(&f.version.id).is_some_and(|m| m.0);
        serde_json::to_writer(&mut body, &line).map_err(ApiError::internal)?;
        body.push(b'\n');
    }
    Ok((!body.is_empty()).then(|| (body, Stamp::of(&versions, &marks))))
}

/// The validators alone, for a revalidation: two small queries. `None` without versions.
/// Blocking.
fn stamp(state: &AppState, owner_id: i64, name: &str) -> ApiResult<Option<Stamp>> {
    let versions =
        state
            .db
            .version_stamps(owner_id, Cargo.package_type(), &Cargo.lookup_name(name))?;
    if versions.is_empty() {
        return Ok(None);
    }
    let ids: Vec<i64> = versions.iter().map(|(id, _)| *id).collect();
    Ok(Some(Stamp::of(&versions, &marks(state, &ids)?)))
}

/// `GET` of an index file. A request with validators is first answered from the stamp
/// alone: a current copy costs no rebuild.
pub async fn file(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
    name: String,
) -> ApiResult<HttpResponse> {
    let credentials = Cargo.credentials(req.headers())?;
    let headers = req.headers().clone();
    let conditional = headers.contains_key(header::IF_NONE_MATCH)
        || headers.contains_key(header::IF_MODIFIED_SINCE);
    let state = state.into_inner();
    let (stamp, body) = blocking::run(move || {
        let owner = readable_owner(&state, credentials, &owner)?;
        let missing = || ApiError::NotFound("crate does not exist");
        if conditional {
            let stamp = stamp(&state, owner.id, &name)?.ok_or_else(missing)?;
            if still_fresh(&headers, &stamp.etag, Some(stamp.modified)) {
                return Ok((stamp, None));
            }
        }
        let (body, stamp) = lines(&state, owner.id, &name)?.ok_or_else(missing)?;
        Ok((stamp, Some(body)))
    })
    .await?;
    let last_modified = header::HttpDate::from(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(stamp.modified.max(0) as u64),
    );
    let mut response = match body {
        Some(_) => HttpResponse::Ok(),
        None => HttpResponse::NotModified(),
    };
    response
        .insert_header((header::ETAG, stamp.etag))
        .insert_header((header::LAST_MODIFIED, last_modified))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    Ok(match body {
        Some(body) => response
            .content_type("text/plain; charset=utf-8")
            .body(body),
        None => response.finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderMap, HeaderValue};

    fn fresh(headers: &HeaderMap, etag: &str, modified: i64) -> bool {
        still_fresh(headers, etag, Some(modified))
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(n.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn stamps_follow_versions_and_yanks() {
        let versions = [(1, 100), (2, 200)];
        let none = Marks::new();
        let base = Stamp::of(&versions, &none);
        assert_eq!(base.modified, 200);
        let mut yanked = Marks::new();
        yanked.insert(1, (true, 300));
        let after_yank = Stamp::of(&versions, &yanked);
        assert_ne!(after_yank.etag, base.etag);
        assert_eq!(after_yank.modified, 300);
        // Unyanked again: the same content, the same tag.
        let mut unyanked = Marks::new();
        unyanked.insert(1, (false, 400));
        assert_eq!(Stamp::of(&versions, &unyanked).etag, base.etag);
        // A version more, or one less, is another file.
        assert_ne!(Stamp::of(&versions[..1], &none).etag, base.etag);
        assert_ne!(
            Stamp::of(&[(1, 100), (2, 200), (3, 50)], &none).etag,
            base.etag
        );
    }

    #[test]
    fn validators() {
        let tag = "\"abc\"";
        assert!(fresh(
            &headers(&[(header::IF_NONE_MATCH, "\"abc\"")]),
            tag,
            10
        ));
        assert!(!fresh(
            &headers(&[(header::IF_NONE_MATCH, "\"x\"")]),
            tag,
            10
        ));
        let date = "Thu, 01 Jan 1970 00:00:20 GMT";
        assert!(fresh(
            &headers(&[(header::IF_MODIFIED_SINCE, date)]),
            tag,
            10
        ));
        assert!(!fresh(
            &headers(&[(header::IF_MODIFIED_SINCE, date)]),
            tag,
            30
        ));
        // The tag decides when both are sent.
        assert!(!fresh(
            &headers(&[
                (header::IF_NONE_MATCH, "\"x\""),
                (header::IF_MODIFIED_SINCE, date)
            ]),
            tag,
            10
        ));
        assert!(!fresh(&HeaderMap::new(), tag, 10));
    }
}

//! The sparse index: `config.json` and one file per crate, each line a version.
//!
//! Both are built from the rows on every request: the publish's own transaction is what the
//! index reads, so every instance lists a version the moment the publish answers (cargo
//! polls the index right after publishing). `ETag` and `Last-Modified` let cargo revalidate.

use std::collections::{HashMap, HashSet};

use actix_web::http::header::{self, HeaderMap};
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

/// The lines of a crate's index file and when it last changed; `None` without versions.
/// Blocking.
pub fn lines(state: &AppState, owner_id: i64, name: &str) -> ApiResult<Option<(Vec<u8>, i64)>> {
    let Some((_, files)) =
        state
            .db
            .package_files(owner_id, Cargo.package_type(), &Cargo.lookup_name(name))?
    else {
        return Ok(None);
    };
    let ids: Vec<i64> = files.iter().map(|f| f.version.id).collect();
    // Per version: yanked (the newest row decides) and when a yank last changed.
    let mut marks: HashMap<i64, (bool, i64)> = HashMap::new();
    for (id, name, value) in state.db.properties(PropertyOf::Version, &ids)? {
        let mark = marks.entry(id).or_default();
        match name.as_str() {
            YANKED => mark.0 = value == "true",
            CHANGED => mark.1 = mark.1.max(value.parse().unwrap_or(0)),
            _ => {}
        }
    }
    let mut body = Vec::new();
    let mut modified = 0;
    let mut seen = HashSet::new();
    for f in &files {
        if !seen.insert(f.version.id) {
            continue;
        }
        let kept: Kept = f
            .version
            .metadata_json
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        let Some(mut line): Option<IndexLine> = kept.index else {
            continue;
        };
        let (yanked, changed) = marks.get(&f.version.id).copied().unwrap_or_default();
        line.cksum = f.blob.hash_sha256.clone();
        line.yanked = yanked;
        modified = modified.max(f.version.created_unix).max(changed);
        serde_json::to_writer(&mut body, &line).map_err(ApiError::internal)?;
        body.push(b'\n');
    }
    Ok((!body.is_empty()).then_some((body, modified)))
}

/// Whether a request's validators say its copy is current.
fn not_modified(headers: &HeaderMap, etag: &str, modified: i64) -> bool {
    let mut tags = headers
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .peekable();
    if tags.peek().is_some() {
        // If-None-Match decides alone when sent.
        return tags.any(|t| t == etag || t == "*");
    }
    headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<header::HttpDate>().ok())
        .and_then(|since| {
            std::time::SystemTime::from(since)
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
        })
        .is_some_and(|since| modified <= since.as_secs() as i64)
}

/// `GET` of an index file.
pub async fn file(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
    name: String,
) -> ApiResult<HttpResponse> {
    let credentials = Cargo.credentials(req.headers())?;
    let state = state.into_inner();
    let (body, modified) = blocking::run(move || {
        let owner = readable_owner(&state, credentials, &owner)?;
        lines(&state, owner.id, &name)?.ok_or(ApiError::NotFound("crate does not exist"))
    })
    .await?;
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
    let last_modified = header::HttpDate::from(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(modified.max(0) as u64),
    );
    let fresh = not_modified(req.headers(), &etag, modified);
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::LAST_MODIFIED, last_modified))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if fresh {
        return Ok(response.finish());
    }
    Ok(response
        .content_type("text/plain; charset=utf-8")
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(n.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn validators() {
        let tag = "\"abc\"";
        assert!(not_modified(
            &headers(&[(header::IF_NONE_MATCH, "\"abc\"")]),
            tag,
            10
        ));
        assert!(!not_modified(
            &headers(&[(header::IF_NONE_MATCH, "\"x\"")]),
            tag,
            10
        ));
        let date = "Thu, 01 Jan 1970 00:00:20 GMT";
        assert!(not_modified(
            &headers(&[(header::IF_MODIFIED_SINCE, date)]),
            tag,
            10
        ));
        assert!(!not_modified(
            &headers(&[(header::IF_MODIFIED_SINCE, date)]),
            tag,
            30
        ));
        // The tag decides when both are sent.
        assert!(!not_modified(
            &headers(&[
                (header::IF_NONE_MATCH, "\"x\""),
                (header::IF_MODIFIED_SINCE, date)
            ]),
            tag,
            10
        ));
        assert!(!not_modified(&HeaderMap::new(), tag, 10));
    }
}

//! `GET -/v1/search?text=&from=&size=`: the owner's npm packages whose name contains the
//! text, each as its `latest` dist-tag shows it, with `total` counting every hit.

use actix_web::{web, HttpRequest, HttpResponse};
use packages_core::clock::rfc3339;
use packages_core::FormatRules;
use packages_db::{PackageSearch, VersionFilter};
use serde_json::{Map, Value};

use crate::packument::{self, readable_owner};
use crate::rules::{self, Npm};
use packages_api::auth::credentials_of;
use packages_api::blocking;
use packages_api::error::{ApiError, ApiResult};
use packages_api::state::AppState;

/// Results per page when the client does not say, and the most it may ask for (npm's).
const DEFAULT_SIZE: u64 = 20;
const MAX_SIZE: u64 = 250;

/// The query: `text`, `from` and `size`; other parameters (npm's score weights) are ignored.
fn query_of(query: &str) -> ApiResult<(String, u64, u64)> {
    let (mut text, mut from, mut size) = (String::new(), 0, DEFAULT_SIZE);
    for (key, value) in packages_api::urls::query_pairs(query) {
        let number = || {
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("{key} must be a non-negative number")))
        };
        match key.as_str() {
            "text" => text = value.trim().to_owned(),
            "from" => from = number()?,
            "size" => size = number()?.clamp(1, MAX_SIZE),
            _ => {}
        }
    }
    Ok((text, from, size))
}

/// Handles the search.
pub async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let (text, from, size) = query_of(req.query_string())?;
    let origin = packages_api::urls::origin(&req).base().to_owned();
    let state = state.into_inner();
    let body = blocking::run(move || {
        let owner_id = readable_owner(&state, credentials, &owner)?;
        let search = PackageSearch {
            owner_ids: vec![owner_id],
            filter: VersionFilter {
                package_type: Some(Npm.package_type().as_str().to_owned()),
                query: (!text.is_empty()).then_some(text),
                name: None,
            },
            owner_matches: Vec::new(),
        };
        let (found, total) = state.db.search_packages_from(&search, from, size)?;
        let mut hits = Vec::with_capacity(found.len());
        for hit in found {
            // Each package as its `latest` dist-tag shows it.
            let latest = packument::load(&state, owner_id, &hit.package.name)?.and_then(|l| {
                let i = *l.tags.get("latest")?;
                l.entries.into_iter().nth(i).map(|e| e.file.version)
            });
            hits.push((hit.package, latest.unwrap_or(hit.version)));
        }
        let objects: Vec<Value> = hits
            .into_iter()
            .map(|(package, version)| {
                let manifest: Map<String, Value> = version
                    .metadata_json
                    .as_deref()
                    .and_then(|m| serde_json::from_str(m).ok())
                    .unwrap_or_default();
                let name = package.name.as_str();
                let field = |k: &str| manifest.get(k).cloned().unwrap_or(Value::Null);
                let mut package = serde_json::json!({
                    "name": name,
                    "scope": rules::scope_of(name).unwrap_or("unscoped"),
                    "version": version.version,
                    "description": field("description"),
                    "keywords": manifest.get("keywords").cloned().unwrap_or(Value::Array(Vec::new())),
                    "date": rfc3339(version.created_unix),
                    "publisher": { "username": owner },
                    "maintainers": [{ "username": owner }],
                    "links": {
                        "npm": format!(
                            "{origin}/{}/-/packages/npm/{}/{}",
                            rules::segment(&owner),
                            rules::segment(name),
                            rules::segment(&version.version)
                        ),
                    },
                });
                if let Some(author) = manifest.get("author") {
                    package["author"] = author.clone();
                }
                serde_json::json!({
                    "package": package,
                    "score": {
                        "final": 1.0,
                        "detail": { "quality": 1.0, "popularity": 1.0, "maintenance": 1.0 },
                    },
                    "searchScore": 1.0,
                })
            })
            .collect();
        Ok(serde_json::json!({
            "objects": objects,
            "total": total,
            "time": rfc3339(packages_core::clock::now_unix()),
        }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_query() {
        assert_eq!(
            query_of("text=left+pad&size=5&from=10&quality=0.65").unwrap(),
            ("left pad".to_owned(), 10, 5)
        );
        assert_eq!(query_of("").unwrap(), (String::new(), 0, DEFAULT_SIZE));
        assert_eq!(query_of("size=100000").unwrap().2, MAX_SIZE);
        assert!(query_of("from=-1").is_err());
    }
}

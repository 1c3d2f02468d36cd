//! cargo's web API besides publishing: yank and unyank, search, owners.

use actix_web::{web, HttpRequest, HttpResponse};
use packages_core::{clock, FormatRules};
use packages_db::{PackageSearch, Page, PropertyOf, VersionFilter};
use packages_service::packages::find_version;

use crate::index::readable_owner;
use crate::publish::Kept;
use crate::rules::{Cargo, CHANGED, YANKED};
use packages_api::blocking;
use packages_api::error::{ApiError, ApiResult};
use packages_api::formats::Format;
use packages_api::state::AppState;

/// Search results per page when cargo does not say, and the most it may ask for.
const DEFAULT_PER_PAGE: u64 = 10;
const MAX_PER_PAGE: u64 = 100;

/// `DELETE …/{name}/{version}/yank` and `PUT …/unyank`: the version stays downloadable, the
/// index marks it.
pub async fn yank(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
    name: String,
    version: String,
    yanked: bool,
) -> ApiResult<HttpResponse> {
    let credentials = Cargo.credentials(req.headers())?;
    let state = state.into_inner();
    blocking::run(move || {
        let owner_id = packages_api::files::writable_owner(&state, credentials, &owner)?;
        let found = find_version(&state, owner_id, &Cargo, &name, &version)?
            .ok_or(ApiError::NotFound("crate version does not exist"))?;
        let id = found.version.id;
        state
            .db
            .set_property(PropertyOf::Version, id, YANKED, &yanked.to_string())?;
        state.db.set_property(
            PropertyOf::Version,
            id,
            CHANGED,
            &clock::now_unix().to_string(),
        )?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "ok": true })))
}

/// `GET api/v1/crates?q=&page=&per_page=`.
pub async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
) -> ApiResult<HttpResponse> {
    let credentials = Cargo.credentials(req.headers())?;
    let (mut text, mut page, mut per_page) = (String::new(), 1, DEFAULT_PER_PAGE);
    for (key, value) in packages_api::urls::query_pairs(req.query_string()) {
        let number = || {
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| ApiError::BadRequest(format!("{key} must be a positive number")))
        };
        match key.as_str() {
            "q" => text = value.trim().to_owned(),
            "page" => page = number()?.max(1),
            "per_page" => per_page = number()?.clamp(1, MAX_PER_PAGE),
            _ => {}
        }
    }
    let state = state.into_inner();
    let body = blocking::run(move || {
        let owner = readable_owner(&state, credentials, &owner)?;
        let search = PackageSearch {
            owner_ids: vec![owner.id],
            filter: VersionFilter {
                package_type: Some(Cargo.package_type().as_str().to_owned()),
                query: (!text.is_empty()).then_some(text),
                name: None,
            },
            owner_matches: Vec::new(),
        };
        let (found, total) = state.db.search_packages(
            &search,
            Page {
                page,
                limit: per_page,
            },
        )?;
        let mut crates = Vec::with_capacity(found.len());
        for hit in found {
            // The highest version (SemVer order) and its description, as crates.io shows.
            let versions = state
                .db
                .package_files(owner.id, Cargo.package_type(), &hit.package.lower_name)?
                .map(|(_, files)| files)
                .unwrap_or_default();
            let highest = versions
                .iter()
                .filter_map(|f| Some((semver::Version::parse(&f.version.version).ok()?, f)))
                .max_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, f)| f.version.clone())
                .unwrap_or(hit.version);
            let kept: Kept = highest
                .metadata_json
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or_default();
            crates.push(serde_json::json!({
                "name": hit.package.name,
                "max_version": highest.version,
                "description": kept.description,
            }));
        }
        Ok(serde_json::json!({ "crates": crates, "meta": { "total": total } }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET api/v1/crates/{name}/owners`: the crate's owner (user or organisation).
pub async fn owners(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
    name: String,
) -> ApiResult<HttpResponse> {
    let credentials = Cargo.credentials(req.headers())?;
    let state = state.into_inner();
    let owner = blocking::run(move || {
        let owner = readable_owner(&state, credentials, &owner)?;
        state
            .db
            .package_id(owner.id, Cargo.package_type(), &Cargo.lookup_name(&name))?
            .ok_or(ApiError::NotFound("crate does not exist"))?;
        Ok(owner)
    })
    .await?;
    let display = if owner.full_name.is_empty() {
        owner.name.clone()
    } else {
        owner.full_name.clone()
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "users": [{ "id": owner.id, "login": owner.name, "name": display }]
    })))
}

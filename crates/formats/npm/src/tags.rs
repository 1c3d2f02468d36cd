//! dist-tags: `GET -/package/{id}/dist-tags`, `PUT …/dist-tags/{tag}` with the version as a
//! JSON string, `DELETE …/dist-tags/{tag}`. A tag points at one version of a package at a
//! time (a version property moved in one transaction).

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use packages_core::FormatRules;

use crate::packument::{load, readable_owner};
use crate::rules::{self, Npm, TAG};
use packages_api::auth::credentials_of;
use packages_api::blocking;
use packages_api::body::RequestBody;
use packages_api::error::{ApiError, ApiResult};
use packages_api::state::AppState;
use packages_service::packages::find_version;

/// Longest body of a tag change (a quoted version).
const MAX_BODY: usize = 1024;

/// Points `tag` at `version` of the package, or at none. Blocking.
pub fn point(
    state: &AppState,
    owner_id: i64,
    name: &str,
    tag: &str,
    version: Option<&str>,
) -> ApiResult<()> {
    let Some(package_id) =
        state
            .db
            .package_id(owner_id, Npm.package_type(), &Npm.lookup_name(name))?
    else {
        return match version {
            Some(_) => Err(ApiError::NotFound("package does not exist")),
            None => Ok(()),
        };
    };
    let version_id = match version {
        Some(version) => Some(
            find_version(state, owner_id, &Npm, name, version)?
                .ok_or(ApiError::NotFound("package version does not exist"))?
                .version
                .id,
        ),
        None => None,
    };
    if !state
        .db
        .set_version_label(package_id, TAG, tag, version_id)?
    {
        return Err(ApiError::NotFound("package version does not exist"));
    }
    Ok(())
}

/// `GET -/package/{id}/dist-tags`.
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
    name: String,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    let tags = blocking::run(move || {
        let owner_id = readable_owner(&state, credentials, &owner)?;
        let loaded =
            load(&state, owner_id, &name)?.ok_or(ApiError::NotFound("package does not exist"))?;
        Ok(loaded.tag_versions())
    })
    .await?;
    Ok(HttpResponse::Ok().json(tags))
}

/// `PUT -/package/{id}/dist-tags/{tag}`: the body is the version, as a JSON string.
pub async fn add(
    req: HttpRequest,
    payload: RequestBody,
    state: web::Data<AppState>,
    owner: String,
    name: String,
    tag: String,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    let app = state.clone();
    let owner_id =
        blocking::run(move || packages_api::files::writable_owner(&app, credentials, &owner))
            .await?;
    if !rules::valid_tag(&tag) {
        return Err(ApiError::BadRequest(format!("invalid dist-tag {tag}")));
    }
    let body = read_body(payload).await?;
    let version = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::String(v)) => v,
        // A bare version, as some clients send it.
        _ => String::from_utf8_lossy(&body)
            .trim()
            .trim_matches('"')
            .to_owned(),
    };
    if version.is_empty() {
        return Err(ApiError::BadRequest(
            "the body must name a version".to_owned(),
        ));
    }
    blocking::run(move || point(&state, owner_id, &name, &tag, Some(&version))).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "ok": true })))
}

/// `DELETE -/package/{id}/dist-tags/{tag}`: 200 whether or not the tag was set. `latest`
/// cannot go; the packument names the highest release in its place.
pub async fn remove(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
    name: String,
    tag: String,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let state = state.into_inner();
    blocking::run(move || {
        let owner_id = packages_api::files::writable_owner(&state, credentials, &owner)?;
        if !rules::valid_tag(&tag) {
            return Err(ApiError::BadRequest(format!("invalid dist-tag {tag}")));
        }
        point(&state, owner_id, &name, &tag, None)
    })
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "ok": true })))
}

async fn read_body(mut payload: RequestBody) -> ApiResult<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::BadRequest(
                "the body must be a version as a JSON string".to_owned(),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

//! The listings: a repository's tags, the repositories the caller may see (`_catalog`), and
//! the manifests that refer to a digest (OCI 1.1 referrers). Lists are in byte order and
//! paginated with `n` and `last`, the next page named in a `Link` header.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse};
use packages_api::state::AppState;
use packages_core::{AccessMode, FormatRules};
use packages_service::access::{allows, resolve_owner};
use packages_service::auth::AuthContext;
use serde_json::{json, Value};

use crate::auth::access;
use crate::errors::{OciError, OciResult};
use crate::manifest::{Metadata, OCI_INDEX};
use crate::manifests::SUBJECT;
use crate::names::{Digest, Repo};
use crate::Container;

/// The most entries one page holds.
const MAX_PAGE: usize = 1000;

/// `n` and `last` of the query.
fn page_params(req: &HttpRequest) -> OciResult<(usize, Option<String>)> {
    let pairs = packages_api::urls::query_pairs(req.query_string());
    let n = match packages_api::urls::query_value(&pairs, "n") {
        None | Some("") => MAX_PAGE,
        Some(n) => n
            .parse::<usize>()
            .map_err(|_| {
                OciError::new(
                    actix_web::http::StatusCode::BAD_REQUEST,
                    "PAGINATION_NUMBER_INVALID",
                    "n must be a number",
                )
            })?
            .min(MAX_PAGE),
    };
    let last = packages_api::urls::query_value(&pairs, "last")
        .filter(|l| !l.is_empty())
        .map(str::to_owned);
    Ok((n, last))
}

/// One page of `all` (sorted here) after `last`, and whether more follow.
fn page(mut all: Vec<String>, n: usize, last: Option<&str>) -> (Vec<String>, bool) {
    all.sort();
    all.dedup();
    let start = match last {
        Some(last) => all.partition_point(|x| x.as_str() <= last),
        None => 0,
    };
    let rest = &all[start..];
    let more = rest.len() > n;
    (rest.iter().take(n).cloned().collect(), more)
}

fn paged(path: &str, entries: &[String], n: usize, more: bool, body: Value) -> HttpResponse {
    let mut builder = HttpResponse::Ok();
    if more {
        if let Some(last) = entries.last() {
            let last = packages_api::urls::path_escape(last);
            builder.insert_header(("Link", format!("<{path}?n={n}&last={last}>; rel=\"next\"")));
        }
    }
    builder.json(body)
}

/// `GET /v2/{name}/tags/list`.
pub async fn tags(
    req: HttpRequest,
    state: Arc<AppState>,
    auth: AuthContext,
    repo: Repo,
) -> OciResult<HttpResponse> {
    let (n, last) = page_params(&req)?;
    let repo2 = repo.clone();
    let names = crate::blocking(move || {
        let owner = access(&state, &auth, &repo2.owner, AccessMode::Read)?.owner;
        let name = Container.lookup_name(&repo2.image);
        let names = state
            .db
            .version_names(owner.id, Container.package_type(), &name)?;
        if names.is_empty() && !package_exists(&state, owner.id, &name)? {
            return Err(OciError::name_unknown());
        }
        Ok(names)
    })
    .await?;
    let (tags, more) = page(names, n, last.as_deref());
    let path = format!("/v2/{}/tags/list", repo.full());
    let body = json!({ "name": repo.full(), "tags": tags });
    Ok(paged(&path, &tags, n, more, body))
}

fn package_exists(state: &AppState, owner_id: i64, lower_name: &str) -> OciResult<bool> {
    Ok(state
        .db
        .package_id(owner_id, Container.package_type(), lower_name)?
        .is_some())
}

/// `GET /v2/_catalog`: the repositories of every owner whose packages the caller may read.
pub async fn catalog(
    req: HttpRequest,
    state: Arc<AppState>,
    auth: AuthContext,
) -> OciResult<HttpResponse> {
    let (n, last) = page_params(&req)?;
    let names = crate::blocking(move || {
        let mut visible: HashMap<String, bool> = HashMap::new();
        let mut names = Vec::new();
        for (owner_name, package) in state.db.packages_with_owners(Container.package_type())? {
            let may = match visible.get(&owner_name) {
                Some(may) => *may,
                None => {
                    let may = match resolve_owner(&state, &auth, &owner_name) {
                        Ok(owner) => allows(&state, &auth, &owner, AccessMode::Read)?,
                        Err(_) => false,
                    };
                    visible.insert(owner_name.clone(), may);
                    may
                }
            };
            if may {
                names.push(format!(
                    "{}/{}",
                    packages_core::lower(&owner_name),
                    package.lower_name
                ));
            }
        }
        Ok(names)
    })
    .await?;
    let (repositories, more) = page(names, n, last.as_deref());
    let body = json!({ "repositories": repositories });
    Ok(paged("/v2/_catalog", &repositories, n, more, body))
}

/// `GET /v2/{name}/referrers/{digest}[?artifactType=]`: an image index of the manifests
/// whose `subject` is the digest.
pub async fn referrers(
    req: HttpRequest,
    state: Arc<AppState>,
    auth: AuthContext,
    repo: Repo,
    digest: String,
) -> OciResult<HttpResponse> {
    let digest = Digest::parse(&digest)?;
    let pairs = packages_api::urls::query_pairs(req.query_string());
    let filter = packages_api::urls::query_value(&pairs, "artifactType")
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let found = crate::blocking(move || {
        let owner = access(&state, &auth, &repo.owner, AccessMode::Read)?.owner;
        Ok(state.db.versions_with_property(
            owner.id,
            Container.package_type(),
            &Container.lookup_name(&repo.image),
            SUBJECT,
            &digest.to_string(),
        )?)
    })
    .await?;
    let mut seen = std::collections::HashSet::new();
    let mut manifests = Vec::new();
    for lead in found {
        if !seen.insert(lead.blob.hash_sha256.clone()) {
            continue;
        }
        let metadata: Metadata = lead
            .version
            .metadata_json
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        if filter
            .as_deref()
            .is_some_and(|wanted| wanted != metadata.artifact_type)
        {
            continue;
        }
        let mut descriptor = json!({
            "mediaType": metadata.media_type,
            "digest": Digest::of_hex(&lead.blob.hash_sha256).to_string(),
            "size": lead.blob.size,
        });
        if !metadata.artifact_type.is_empty() {
            descriptor["artifactType"] = json!(metadata.artifact_type);
        }
        if !metadata.annotations.is_empty() {
            descriptor["annotations"] = Value::Object(metadata.annotations);
        }
        manifests.push(descriptor);
    }
    let mut builder = HttpResponse::Ok();
    builder.content_type(OCI_INDEX);
    if filter.is_some() {
        builder.insert_header(("OCI-Filters-Applied", "artifactType"));
    }
    Ok(builder.body(
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        })
        .to_string(),
    ))
}

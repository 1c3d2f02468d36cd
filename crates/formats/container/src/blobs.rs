//! `HEAD`, `GET` and `DELETE` of `/v2/{name}/blobs/{digest}`: content found by digest in the
//! repository (uploaded blobs and those of its manifests), served with ranges and, on object
//! storage with serve-direct, by redirect to the store.

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use packages_api::error::ApiError;
use packages_api::state::AppState;
use packages_core::{AccessMode, FormatRules};
use packages_service::auth::AuthContext;

use crate::auth::access;
use crate::errors::{OciError, OciResult};
use crate::names::{Digest, Repo};
use crate::Container;

/// `HEAD`/`GET`: the blob, or 404 `BLOB_UNKNOWN`.
pub async fn get(
    req: HttpRequest,
    state: Arc<AppState>,
    auth: AuthContext,
    repo: Repo,
    digest: String,
) -> OciResult<HttpResponse> {
    let digest = Digest::parse(&digest)?;
    let head = req.method() == actix_web::http::Method::HEAD;
    let blob = {
        let (state, digest, repo) = (state.clone(), digest.clone(), repo.clone());
        crate::blocking(move || {
            let owner = access(&state, &auth, &repo.owner, AccessMode::Read)?.owner;
            state
                .db
                .package_content(
                    owner.id,
                    Container.package_type(),
                    &Container.lookup_name(&repo.image),
                    &digest.hex,
                )?
                .ok_or_else(|| OciError::blob_unknown(&digest.to_string()))
        })
        .await?
    };
    let modified = blob.created_unix;
    let mut response =
        packages_api::files::serve_content(&req, state, blob, digest.to_string(), modified, head)
            .await?;
    let value = HeaderValue::from_str(&digest.to_string()).map_err(ApiError::internal)?;
    let etag = HeaderValue::from_str(&format!("\"{digest}\"")).map_err(ApiError::internal)?;
    let headers = response.headers_mut();
    headers.insert(
        header::HeaderName::from_static("docker-content-digest"),
        value,
    );
    if response.status().is_success() {
        response.headers_mut().insert(header::ETAG, etag);
        response.headers_mut().remove(header::CONTENT_DISPOSITION);
    }
    Ok(response)
}

/// `DELETE`: the blob leaves the repository (202); manifests referencing it keep their
/// own reference.
pub async fn delete(
    state: Arc<AppState>,
    auth: AuthContext,
    repo: Repo,
    digest: String,
) -> OciResult<HttpResponse> {
    let digest = Digest::parse(&digest)?;
    crate::blocking(move || {
        let owner = access(&state, &auth, &repo.owner, AccessMode::Write)?.owner;
        let removed = state.db.remove_package_content(
            owner.id,
            Container.package_type(),
            &Container.lookup_name(&repo.image),
            &digest.hex,
        )?;
        if removed == 0 {
            return Err(OciError::blob_unknown(&digest.to_string()));
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

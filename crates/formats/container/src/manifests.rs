//! `HEAD`, `GET`, `PUT` and `DELETE` of `/v2/{name}/manifests/{reference}`, the reference a
//! tag or a digest.
//!
//! A manifest pushed by tag is the version named by the tag; one pushed by digest (the
//! children of an index, most referrers) is an internal version named by its digest. Either
//! way its files are the manifest (the lead, byte for byte as received) and one per blob or
//! child manifest it references, which keeps those from the sweep. Moving a tag replaces
//! its version's files in one transaction.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use packages_api::body::RequestBody;
use packages_api::error::ApiError;
use packages_api::state::AppState;
use packages_core::{lower, AccessMode, FormatRules, MultiHasher};
use packages_db::{LeadContent, NewProperty, NewVersionFiles, PropertyOf, UploadLimits};
use packages_service::auth::AuthContext;

use crate::auth::{access, pusher};
use crate::errors::{OciError, OciResult};
use crate::manifest::{self, Metadata, MAX_MANIFEST};
use crate::names::{is_tag, Digest, Repo};
use crate::Container;

/// The manifest's file name in its version, as the reference registry names it.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Version property: the digest of the manifest this one refers to (OCI 1.1 `subject`).
pub const SUBJECT: &str = "container.subject";

/// A reference: a tag or a digest.
#[derive(Debug, Clone)]
enum Reference {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    fn parse(text: &str) -> OciResult<Reference> {
        if Digest::looks_like(text) {
            Ok(Reference::Digest(Digest::parse(text)?))
        } else if is_tag(text) {
            Ok(Reference::Tag(text.to_owned()))
        } else {
            Err(OciError::tag_invalid(text))
        }
    }

    fn text(&self) -> String {
        match self {
            Reference::Tag(tag) => tag.clone(),
            Reference::Digest(d) => d.to_string(),
        }
    }
}

/// The manifest a reference names in the repository of `owner_id`. Blocking.
fn find(
    state: &AppState,
    owner_id: i64,
    repo: &Repo,
    reference: &Reference,
) -> OciResult<Option<LeadContent>> {
    let name = Container.lookup_name(&repo.image);
    let ptype = Container.package_type();
    Ok(match reference {
        Reference::Tag(tag) => state
            .db
            .version_lead(owner_id, ptype, &name, &lower(tag))?
            .filter(|lead| !lead.version.is_internal),
        Reference::Digest(digest) => state
            .db
            .versions_with_lead(owner_id, ptype, &name, &digest.hex)?
            .into_iter()
            .next(),
    })
}

fn media_type(lead: &LeadContent) -> String {
    lead.version
        .metadata_json
        .as_deref()
        .and_then(|m| serde_json::from_str::<Metadata>(m).ok())
        .map(|m| m.media_type)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| manifest::OCI_MANIFEST.to_owned())
}

/// The media types the request's `Accept` headers list.
fn accept_list(req: &HttpRequest) -> Vec<String> {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect()
}

/// `HEAD`/`GET`: the manifest as stored, with its media type and digest.
pub async fn get(
    req: HttpRequest,
    state: Arc<AppState>,
    auth: AuthContext,
    repo: Repo,
    reference: String,
) -> OciResult<HttpResponse> {
    let reference = Reference::parse(&reference)?;
    let accept = accept_list(&req);
    let (lead, bytes) = crate::blocking(move || {
        let owner = access(&state, &auth, &repo.owner, AccessMode::Read)?.owner;
        let lead = find(&state, owner.id, &repo, &reference)?
            .ok_or_else(|| OciError::manifest_unknown(&reference.text()))?;
        // Read for HEAD too: actix answers HEAD with the body's length and no body.
        let bytes = read_all(&state, &lead)?;
        Ok((lead, bytes))
    })
    .await?;
    let media_type = media_type(&lead);
    if !manifest::accepted(&accept, &media_type) {
        return Err(OciError::manifest_unknown(&lead.version.version)
            .with_detail(serde_json::json!({ "mediaType": media_type, "accept": accept })));
    }
    let digest = Digest::of_hex(&lead.blob.hash_sha256).to_string();
    let mut builder = HttpResponse::Ok();
    builder
        .content_type(media_type)
        .insert_header(("Docker-Content-Digest", digest.clone()))
        .insert_header((header::ETAG, format!("\"{digest}\"")));
    Ok(builder.body(bytes))
}

/// The whole content of a (small) manifest. Blocking.
fn read_all(state: &AppState, lead: &LeadContent) -> OciResult<Vec<u8>> {
    use std::io::Read;
    let size = lead.blob.size.max(0) as u64;
    let reader = state
        .store
        .open(lead.blob.store_key(), Some(0..size))
        .map_err(ApiError::from)?;
    let mut bytes = Vec::with_capacity(size as usize);
    match reader {
        packages_core::BlobReader::File(mut file, _) => file.read_to_end(&mut bytes),
        packages_core::BlobReader::Stream(mut stream, _) => stream.read_to_end(&mut bytes),
    }
    .map_err(|e| ApiError::internal(format!("reading a manifest: {e}")))?;
    Ok(bytes)
}

/// `PUT`: stores the manifest once everything it references is in the repository.
pub async fn put(
    req: HttpRequest,
    body: RequestBody,
    state: Arc<AppState>,
    auth: AuthContext,
    repo: Repo,
    reference: String,
) -> OciResult<HttpResponse> {
    let reference = Reference::parse(&reference)?;
    if let Some(len) = packages_api::upload::content_length(req.headers())? {
        if len > MAX_MANIFEST as u64 {
            return Err(OciError::size_invalid("a manifest may be at most 4 MiB"));
        }
    }
    let bytes = packages_api::upload::read_small_body(body, MAX_MANIFEST)
        .await
        .map_err(|e| match e {
            ApiError::BadRequest(_) => OciError::size_invalid("a manifest may be at most 4 MiB"),
            other => other.into(),
        })?;
    let mut hasher = MultiHasher::new();
    hasher.update(&bytes);
    let digests = hasher.finalize();
    let digest = Digest::of_hex(&digests.sha256);
    if let Reference::Digest(named) = &reference {
        if *named != digest {
            return Err(OciError::digest_invalid(
                "the manifest's content does not have the digest in the URL",
            )
            .with_detail(serde_json::json!({
                "claimed": named.to_string(),
                "actual": digest.to_string(),
            })));
        }
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let parsed = manifest::parse(&bytes, &digest, content_type.as_deref())?;
    let subject = parsed.metadata.subject.clone();
    let (state2, repo2, digest2) = (state.clone(), repo.clone(), digest.clone());
    crate::blocking(move || {
        store(
            &state2, &auth, &repo2, &reference, &digest2, parsed, &bytes, digests,
        )
    })
    .await?;
    let mut builder = HttpResponse::Created();
    builder
        .insert_header((
            header::LOCATION,
            packages_api::urls::absolute(&req, &format!("/v2/{}/manifests/{digest}", repo.full())),
        ))
        .insert_header(("Docker-Content-Digest", digest.to_string()));
    if !subject.is_empty() {
        builder.insert_header(("OCI-Subject", subject));
    }
    Ok(builder.finish())
}

/// Checks the references, writes the manifest's content and its version. Blocking.
#[allow(clippy::too_many_arguments)]
fn store(
    state: &AppState,
    auth: &AuthContext,
    repo: &Repo,
    reference: &Reference,
    digest: &Digest,
    parsed: manifest::Manifest,
    bytes: &[u8],
    digests: packages_core::Digests,
) -> OciResult<()> {
    let owner = access(state, auth, &repo.owner, AccessMode::Write)?.owner;
    let doer = pusher(auth)?;
    let name = Container.lookup_name(&repo.image);
    let ptype = Container.package_type();
    let mut references = Vec::with_capacity(parsed.references.len());
    for needed in &parsed.references {
        let blob = state
            .db
            .package_content(owner.id, ptype, &name, &needed.hex)?
            .ok_or_else(|| OciError::manifest_blob_unknown(&needed.to_string()))?;
        references.push((needed.to_string(), blob.id));
    }
    let mut pending = state.store.begin().map_err(ApiError::from)?;
    pending.write_all(bytes).map_err(ApiError::from)?;
    let stored = state
        .store
        .persist(pending, &digests.sha256)
        .map_err(ApiError::from)?;
    let key = stored.key().to_owned();
    let was_present = stored.was_present();
    let (version, internal) = match reference {
        Reference::Tag(tag) => (tag.clone(), false),
        Reference::Digest(d) => (d.to_string(), true),
    };
    let mut properties = Vec::new();
    if !parsed.metadata.subject.is_empty() {
        properties.push(NewProperty {
            of: PropertyOf::Version,
            name: SUBJECT.to_owned(),
            value: parsed.metadata.subject.clone(),
        });
    }
    let limits = &state.settings.limits;
    let written = state.db.put_version_files(&NewVersionFiles {
        owner_id: owner.id,
        creator_id: doer.id,
        ptype,
        name: repo.image.clone(),
        lower_name: name,
        version,
        internal,
        metadata_json: Some(serde_json::to_string(&parsed.metadata).map_err(ApiError::internal)?),
        lead_name: MANIFEST_FILE.to_owned(),
        lead: digests.clone(),
        lead_storage_key: (key != digests.sha256).then(|| key.clone()),
        references,
        properties,
        limits: UploadLimits {
            total_owner_count: limits.total_owner_count,
            total_owner_size: limits.total_owner_size,
            exempt: doer.is_admin,
        },
    });
    match written {
        Ok(put) => {
            stored.confirm(put.blob_created).map_err(ApiError::from)?;
            log::debug!("manifest {digest} of {} stored", repo.full());
            Ok(())
        }
        Err(e) => {
            drop(stored);
            if !was_present {
                state.leftovers.discard(&*state.store, &state.db, &key);
            }
            Err(e.into())
        }
    }
}

/// `DELETE`: by digest, the manifest under every tag; by tag, that tag only (202).
pub async fn delete(
    state: Arc<AppState>,
    auth: AuthContext,
    repo: Repo,
    reference: String,
) -> OciResult<HttpResponse> {
    let reference = Reference::parse(&reference)?;
    crate::blocking(move || {
        let owner = access(&state, &auth, &repo.owner, AccessMode::Write)?.owner;
        let name = Container.lookup_name(&repo.image);
        let ids: Vec<i64> = match &reference {
            Reference::Tag(_) => find(&state, owner.id, &repo, &reference)?
                .map(|lead| vec![lead.version.id])
                .unwrap_or_default(),
            Reference::Digest(d) => state
                .db
                .versions_with_lead(owner.id, Container.package_type(), &name, &d.hex)?
                .into_iter()
                .map(|lead| lead.version.id)
                .collect(),
        };
        if ids.is_empty() {
            return Err(OciError::manifest_unknown(&reference.text()));
        }
        state.db.delete_versions_by_id(owner.id, &ids)?;
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Accepted().finish())
}

//! `PUT {id}`: npm's publish document, and the same document without a tarball, which is
//! how npm deprecates and undeprecates versions.
//!
//! The body streams through [`stream::PublishReader`]: the tarball goes to the blob store as
//! it is decoded (within the format's size limit) while the rest is kept, bounded. Only once
//! the whole body is in are the name, version, dist-tags and digests checked; a refusal drops
//! the pending content, so nothing is stored.

pub mod stream;

use std::cell::RefCell;
use std::rc::Rc;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use futures_util::StreamExt;
use packages_core::{Digests, FormatRules};
use packages_db::{FileDetails, PropertyOf};
use packages_storage::ingest::Ingested;
use serde_json::{Map, Value};

use crate::rules::{self, Npm, DEPRECATED};
use crate::tags;
use packages_api::auth::credentials_of;
use packages_api::blocking;
use packages_api::body::RequestBody;
use packages_api::error::{ApiError, ApiResult};
use packages_api::state::AppState;
use packages_api::upload::{
    prepare_upload, receive_body, store_upload, BodyLimit, UploadPlan, Uploader,
};
use packages_api::write_mode::WriteMode;
use stream::{Document, PublishReader, StreamError};

/// Members of a manifest the registry writes itself rather than keeping the client's.
const OWN_FIELDS: &[&str] = &["_id", "dist", "deprecated", "_attachments"];

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

fn stream_error(e: StreamError) -> ApiError {
    match e {
        StreamError::Invalid(what) => bad(format!("invalid publish body: {what}")),
        StreamError::MetadataTooLarge => {
            ApiError::PayloadTooLarge("package metadata is larger than 16 MiB")
        }
    }
}

/// Who publishes and the limit on the tarball; the JSON around it is bounded apart.
/// Blocking.
pub fn prepare(
    state: &AppState,
    credentials: Option<forge_auth::Credentials>,
    owner: &str,
) -> ApiResult<(Uploader, Option<BodyLimit>)> {
    prepare_upload(state, credentials, owner, Npm.package_type())
}

/// Handles `PUT {id}`.
pub async fn put(
    req: HttpRequest,
    payload: RequestBody,
    state: web::Data<AppState>,
    owner: String,
    name: String,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let app = state.clone().into_inner();
    let (uploader, limit) = blocking::run(move || prepare(&app, credentials, &owner)).await?;
    if !rules::valid_name(&name) {
        return Err(bad("invalid package name"));
    }
    let reader = Rc::new(RefCell::new(PublishReader::new()));
    let feeding = reader.clone();
    let tarball = payload
        .map(move |chunk| {
            let chunk = chunk?;
            let mut out = Vec::new();
            feeding
                .borrow_mut()
                .feed(&chunk, &mut out)
                .map_err(stream_error)?;
            Ok(Bytes::from(out))
        })
        .filter(|piece| futures_util::future::ready(!matches!(piece, Ok(b) if b.is_empty())));
    let ingested = receive_body(&state, Box::pin(tarball), limit).await?;
    let document = std::mem::take(&mut *reader.borrow_mut())
        .finish()
        .map_err(stream_error)?;
    let request = Request::read(&document, &name)?;
    let state = state.into_inner();
    match document.attachment {
        Some(attachment) => {
            let publish = request.publish(&attachment, &ingested.digests)?;
            publish_version(state, uploader, limit, publish, ingested).await
        }
        None => {
            drop(ingested);
            blocking::run(move || update(&state, &uploader, &request)).await?;
            Ok(HttpResponse::Ok().json(serde_json::json!({ "ok": true })))
        }
    }
}

/// The members of the document the registry reads.
struct Request {
    name: String,
    /// Each version with its manifest, as sent.
    versions: Vec<(String, Map<String, Value>)>,
    dist_tags: Vec<(String, String)>,
    /// A top-level `readme`, for clients that send it there rather than in the manifest.
    readme: Option<String>,
}

impl Request {
    fn read(doc: &Document, name: &str) -> ApiResult<Request> {
        let member = |key: &'static str| -> ApiResult<Option<Value>> {
            doc.member(key)
                .map(serde_json::from_slice::<Value>)
                .transpose()
                .map_err(|_| bad(format!("invalid publish body: {key} is not valid JSON")))
        };
        if let Some(sent) = member("name")? {
            if sent.as_str() != Some(name) {
                return Err(bad("the package name in the body differs from the URL"));
            }
        }
        let versions = match member("versions")? {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => map
                .into_iter()
                .map(|(version, manifest)| match manifest {
                    Value::Object(manifest) => Ok((version, manifest)),
                    _ => Err(bad(format!("version {version} is not an object"))),
                })
                .collect::<ApiResult<_>>()?,
            Some(_) => return Err(bad("versions is not an object")),
        };
        let dist_tags = match member("dist-tags")? {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => map
                .into_iter()
                .map(|(tag, version)| match version {
                    Value::String(version) => Ok((tag, version)),
                    _ => Err(bad(format!("dist-tag {tag} does not name a version"))),
                })
                .collect::<ApiResult<_>>()?,
            Some(_) => return Err(bad("dist-tags is not an object")),
        };
        let readme = match member("readme")? {
            Some(Value::String(readme)) => Some(readme),
            _ => None,
        };
        Ok(Request {
            name: name.to_owned(),
            versions,
            dist_tags,
            readme,
        })
    }

    /// Checks a publish and decides what to store.
    fn publish(&self, attachment: &stream::Attachment, digests: &Digests) -> ApiResult<Publish> {
        let [(version, manifest)] = self.versions.as_slice() else {
            return Err(bad("a publish must carry exactly one version"));
        };
        if let Some(sent) = manifest.get("name") {
            if sent.as_str() != Some(self.name.as_str()) {
                return Err(bad("the manifest names another package"));
            }
        }
        let parsed = rules::parse_version(version).ok_or_else(|| bad("invalid package version"))?;
        if let Some(sent) = manifest.get("version") {
            if sent.as_str() != Some(version.as_str()) {
                return Err(bad("the manifest's version differs from its key"));
            }
        }
        let mut tags = Vec::new();
        for (tag, target) in &self.dist_tags {
            if !rules::valid_tag(tag) {
                return Err(bad(format!("invalid dist-tag {tag}")));
            }
            if target == version {
                tags.push(tag.clone());
            }
        }
        if !attachment.has_data || digests.size == 0 {
            return Err(bad("the package attachment is empty"));
        }
        if attachment
            .length
            .is_some_and(|length| length != digests.size.max(0) as u64)
        {
            return Err(bad("the attachment's length does not match its data"));
        }
        check_digests(manifest, digests)?;
        let mut stored = manifest.clone();
        for field in OWN_FIELDS {
            stored.remove(*field);
        }
        stored.insert("name".to_owned(), Value::String(self.name.clone()));
        stored.insert("version".to_owned(), Value::String(parsed.to_string()));
        if !stored.contains_key("readme") {
            if let Some(readme) = &self.readme {
                stored.insert("readme".to_owned(), Value::String(readme.clone()));
            }
        }
        let metadata = serde_json::to_string(&stored).map_err(ApiError::internal)?;
        Ok(Publish {
            name: self.name.clone(),
            version: parsed.to_string(),
            metadata,
            tags,
        })
    }
}

/// Compares the manifest's `dist.integrity` (SHA-512, or SHA-1 from old clients) and
/// `dist.shasum` with the received tarball; at least one must be there, all that are must
/// match.
fn check_digests(manifest: &Map<String, Value>, digests: &Digests) -> ApiResult<()> {
    let dist = manifest.get("dist").and_then(Value::as_object);
    let integrity = dist
        .and_then(|d| d.get("integrity"))
        .and_then(Value::as_str);
    let shasum = dist.and_then(|d| d.get("shasum")).and_then(Value::as_str);
    let mut checked = false;
    if let Some(integrity) = integrity {
        let b64 = base64::engine::general_purpose::STANDARD;
        for entry in integrity.split_whitespace() {
            let Some((algorithm, hash)) = entry.split_once('-') else {
                return Err(bad("dist.integrity is not a valid integrity string"));
            };
            // Options after `?` are allowed by the format and carry nothing here.
            let hash = hash.split('?').next().unwrap_or_default();
            let expected = match algorithm {
                "sha512" => &digests.sha512,
                "sha1" => &digests.sha1,
                _ => continue,
            };
            let sent = b64
                .decode(hash)
                .map_err(|_| bad("dist.integrity is not a valid integrity string"))?;
            if hex::encode(sent) != *expected {
                return Err(bad(
                    "dist.integrity does not match the attached tarball (SHA-512)",
                ));
            }
            checked = true;
        }
    }
    if let Some(shasum) = shasum {
        if !shasum.trim().eq_ignore_ascii_case(&digests.sha1) {
            return Err(bad(
                "dist.shasum does not match the attached tarball (SHA-1)",
            ));
        }
        checked = true;
    }
    if !checked {
        return Err(bad(
            "the manifest has neither dist.integrity nor dist.shasum",
        ));
    }
    Ok(())
}

/// A checked publish.
struct Publish {
    name: String,
    version: String,
    metadata: String,
    /// The dist-tags that point at the new version.
    tags: Vec<String>,
}

async fn publish_version(
    state: std::sync::Arc<AppState>,
    uploader: Uploader,
    limit: Option<BodyLimit>,
    publish: Publish,
    ingested: Ingested,
) -> ApiResult<HttpResponse> {
    let plan = UploadPlan {
        owner_id: uploader.owner_id,
        creator_id: uploader.creator_id,
        exempt_from_limits: uploader.is_admin,
        package_type: Npm.package_type(),
        name: publish.name.clone(),
        version: publish.version.clone(),
        file_name: rules::tarball_name(&publish.name, &publish.version),
        details: FileDetails {
            lower_name: Npm.lookup_name(&publish.name),
            version_metadata: Some(publish.metadata),
            composite_key: String::new(),
            is_lead: true,
            internal_version: false,
            properties: Vec::new(),
        },
        claimed: Vec::new(),
        body_limit: limit,
        // A version, once published, is never replaced.
        mode: WriteMode::Create,
    };
    store_upload(state.clone(), plan, ingested)
        .await
        .map_err(|e| match e {
            ApiError::Conflict(_) => ApiError::Conflict("package version already exists"),
            other => other,
        })?;
    let (name, version, tags) = (publish.name, publish.version, publish.tags);
    blocking::run(move || {
        for tag in &tags {
            tags::point(&state, uploader.owner_id, &name, tag, Some(&version))?;
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "ok": true })))
}

/// A document without a tarball changes what npm lets a client change in place: each
/// listed version's deprecation message (an empty or missing one undeprecates). Blocking.
fn update(state: &AppState, uploader: &Uploader, request: &Request) -> ApiResult<()> {
    let Some((_, files)) = state.db.package_files(
        uploader.owner_id,
        Npm.package_type(),
        &Npm.lookup_name(&request.name),
    )?
    else {
        return Err(bad("a new package needs its tarball in _attachments"));
    };
    let ids: Vec<(String, i64)> = files
        .iter()
        .map(|f| (f.version.version.clone(), f.version.id))
        .collect();
    // A version this registry does not have cannot come without its tarball: that is a
    // publish that lost its attachment, not an edit.
    if let Some((missing, _)) = request
        .versions
        .iter()
        .find(|(v, _)| !ids.iter().any(|(have, _)| have.eq_ignore_ascii_case(v)))
    {
        return Err(bad(format!(
            "version {missing} is not published: a new version needs its tarball in _attachments"
        )));
    }
    let current = state.db.properties_named(
        PropertyOf::Version,
        &ids.iter().map(|(_, id)| *id).collect::<Vec<_>>(),
        Some(DEPRECATED),
    )?;
    for (version, manifest) in &request.versions {
        let Some((_, id)) = ids.iter().find(|(v, _)| v.eq_ignore_ascii_case(version)) else {
            continue;
        };
        let wanted = manifest
            .get("deprecated")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty());
        let now = current
            .iter()
            .rev()
            .find(|(of, _, _)| of == id)
            .map(|(_, _, m)| m.as_str());
        match (wanted, now) {
            (Some(w), Some(n)) if w == n => {}
            (Some(w), _) => state
                .db
                .set_property(PropertyOf::Version, *id, DEPRECATED, w)?,
            (None, Some(_)) => {
                state
                    .db
                    .remove_property(PropertyOf::Version, *id, DEPRECATED)?;
            }
            (None, None) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha512};

    fn digests_of(data: &[u8]) -> Digests {
        let mut h = packages_core::MultiHasher::new();
        h.update(data);
        h.finalize()
    }

    fn manifest(dist: Value) -> Map<String, Value> {
        let Value::Object(m) = serde_json::json!({"name": "x", "version": "1.0.0", "dist": dist})
        else {
            unreachable!()
        };
        m
    }

    #[test]
    fn digests_must_match() {
        let data = b"tarball";
        let d = digests_of(data);
        let b64 = base64::engine::general_purpose::STANDARD;
        let sha512 = format!("sha512-{}", b64.encode(Sha512::digest(data)));
        let good = manifest(serde_json::json!({"integrity": sha512, "shasum": d.sha1}));
        assert!(check_digests(&good, &d).is_ok());
        let only_shasum = manifest(serde_json::json!({"shasum": d.sha1}));
        assert!(check_digests(&only_shasum, &d).is_ok());
        let wrong = format!("sha512-{}", b64.encode(Sha512::digest(b"other")));
        for bad in [
            serde_json::json!({"integrity": wrong, "shasum": d.sha1}),
            serde_json::json!({"integrity": sha512, "shasum": "00"}),
            serde_json::json!({"integrity": "sha512-%%%"}),
            serde_json::json!({}),
        ] {
            assert!(check_digests(&manifest(bad.clone()), &d).is_err(), "{bad}");
        }
    }
}

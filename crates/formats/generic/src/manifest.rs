//! Documents generated from the database for a generic version, and the stable latest URLs:
//!
//! - `GET {name}/{version}`: a JSON manifest of the version's files;
//! - `GET {name}/{version}/-/SHA256SUMS`: the same files in `sha256sum -c` form;
//! - `GET {name}/-/latest`: the newest version's manifest;
//! - `GET {name}/-/latest/{file}`: a redirect to that file in the newest version.
//!
//! None of these paths can be a file's URL: files sit exactly three segments below the type,
//! and the version `-` is reserved. "Newest" follows [`packages_core::newest`].

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use packages_core::newest::{newest_version, VersionCandidate};
use packages_core::{lower, AccessMode, PackageType};
use packages_db::{PackageBlob, PackageFile, VersionListing};
use sha2::Digest as _;

use super::Target;
use crate::Generic;
use packages_api::auth::{authenticate, credentials_of};
use packages_api::blocking;
use packages_api::error::{ApiError, ApiResult};
use packages_api::state::AppState;
use packages_core::clock::rfc3339;
use packages_core::FormatRules;
use packages_service::access::authorize_owner;
use packages_service::packages;

/// The version segment that names no version: `{name}/-/…` routes.
pub const RESERVED_VERSION: &str = "-";

/// A version with its files, as read for a manifest.
struct VersionFiles {
    /// The owner's name as stored.
    owner: String,
    listing: VersionListing,
    files: Vec<(PackageFile, PackageBlob)>,
}

/// Which version a request names.
#[derive(Debug, Clone)]
enum Which {
    Exact(String),
    Newest,
}

/// `GET {name}/{version}`, or with `latest` `GET {name}/-/latest`: the version's manifest.
pub async fn manifest(
    req: HttpRequest,
    state: web::Data<AppState>,
    target: Target,
    latest: bool,
    head: bool,
) -> ApiResult<HttpResponse> {
    let which = if latest {
        Which::Newest
    } else {
        Which::Exact(target.version.clone())
    };
    let found = load(&req, state, target, which).await?;
    let body = manifest_json(&req, &found);
    Ok(cached(&req, body, "application/json", head))
}

/// `GET {name}/{version}/-/SHA256SUMS`.
pub async fn sha256sums(
    req: HttpRequest,
    state: web::Data<AppState>,
    target: Target,
    head: bool,
) -> ApiResult<HttpResponse> {
    let which = Which::Exact(target.version.clone());
    let found = load(&req, state, target, which).await?;
    let mut body = String::new();
    for (file, blob) in &found.files {
        body.push_str(&blob.hash_sha256);
        body.push_str("  ");
        body.push_str(&file.name);
        body.push('\n');
    }
    Ok(cached(
        &req,
        body.into_bytes(),
        "text/plain; charset=utf-8",
        head,
    ))
}

/// `GET {name}/-/latest/{file}`: 302 to the file in the newest version, never cached so the
/// next request sees a newer version at once.
pub async fn latest_file(
    req: HttpRequest,
    state: web::Data<AppState>,
    target: Target,
    file_name: String,
) -> ApiResult<HttpResponse> {
    let found = load(&req, state, target, Which::Newest).await?;
    let lower_file = lower(&file_name);
    let (file, _) = found
        .files
        .iter()
        .find(|(f, _)| f.lower_name == lower_file)
        .ok_or(ApiError::NotFound("package file does not exist"))?;
    let location = file_url(&found.owner, &found.listing, &file.name);
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .finish())
}

/// Authenticates, authorises reading and reads the version and its files. `target.version`
/// is ignored for [`Which::Newest`].
async fn load(
    req: &HttpRequest,
    state: web::Data<AppState>,
    target: Target,
    which: Which,
) -> ApiResult<VersionFiles> {
    let credentials = credentials_of(req)?;
    let state = state.into_inner();
    blocking::run(move || {
        let auth = authenticate(&state, credentials)?;
        let access = authorize_owner(&state, &auth, &target.owner, AccessMode::Read)?;
        let owner_id = access.owner.id;
        let listing = match which {
            Which::Exact(version) => {
                packages::find_version(&state, owner_id, &Generic, &target.name, &version)?
            }
            Which::Newest => {
                let mut versions = state.db.package_versions(
                    owner_id,
                    PackageType::Generic,
                    &Generic.lookup_name(&target.name),
                )?;
                let candidates: Vec<_> = versions
                    .iter()
                    .map(|l| VersionCandidate {
                        version: &l.version.version,
                        created_unix: l.version.created_unix,
                        id: l.version.id,
                    })
                    .collect();
                newest_version(&candidates).map(|i| versions.swap_remove(i))
            }
        }
        .ok_or(ApiError::NotFound("package does not exist"))?;
        let files = state.db.version_files(listing.version.id)?;
        Ok(VersionFiles {
            owner: access.owner.name,
            listing,
            files,
        })
    })
    .await
}

/// The path of a file's download URL.
fn file_url(owner: &str, listing: &VersionListing, file_name: &str) -> String {
    super::file_url_path(
        owner,
        &listing.package.name,
        &listing.version.version,
        file_name,
    )
}

/// A version's manifest (`GET …/{name}/{version}` and `…/{name}/-/latest`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Manifest {
    pub package: String,
    pub version: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub files: Vec<ManifestFile>,
}

/// One file of a [`Manifest`]; digests are lower-case hex.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ManifestFile {
    pub name: String,
    pub size: i64,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// Absolute download URL.
    pub url: String,
}

fn manifest_json(req: &HttpRequest, found: &VersionFiles) -> Vec<u8> {
    let files = found
        .files
        .iter()
        .map(|(file, blob)| ManifestFile {
            name: file.name.clone(),
            size: blob.size,
            md5: blob.hash_md5.clone(),
            sha1: blob.hash_sha1.clone(),
            sha256: blob.hash_sha256.clone(),
            sha512: blob.hash_sha512.clone(),
            created: rfc3339(file.created_unix),
            url: packages_api::urls::absolute(
                req,
                &file_url(&found.owner, &found.listing, &file.name),
            ),
        })
        .collect();
    let doc = Manifest {
        package: found.listing.package.name.clone(),
        version: found.listing.version.version.clone(),
        created: rfc3339(found.listing.version.created_unix),
        files,
    };
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// A generated document with a strong `ETag` (the SHA-256 of its bytes); `If-None-Match`
/// with that tag answers 304. Clients revalidate each time, as files can be added.
fn cached(req: &HttpRequest, body: Vec<u8>, content_type: &str, head: bool) -> HttpResponse {
    let etag = format!("\"{}\"", hex::encode(sha2::Sha256::digest(&body)));
    let matches = packages_api::serve::still_fresh(req.headers(), &etag, None);
    let mut builder = HttpResponse::build(if matches {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    });
    builder
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"));
    if matches {
        return builder.finish();
    }
    builder.content_type(content_type);
    if head {
        let len = body.len() as u64;
        return builder.body(actix_web::body::SizedStream::new(
            len,
            futures_util::stream::empty::<Result<web::Bytes, std::io::Error>>(),
        ));
    }
    builder.body(body)
}

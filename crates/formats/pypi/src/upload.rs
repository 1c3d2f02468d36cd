//! `POST /api/packages/{owner}/pypi`: the upload form twine (and uv, and other clients of
//! the legacy upload API) sends.
//!
//! The form is read as a stream. Text fields are held in memory within bounds (field count,
//! bytes per field, bytes in all); the `content` file field streams into the blob store
//! while it is hashed, its wheel metadata is picked out as it passes, and a BLAKE2b digest
//! is taken for clients that send one. Rows are written only after the whole form is in and
//! every check passed; a refused or broken upload drops its pending content, so nothing is
//! left behind.

use crate::rules::wheel::{metadata_field, MetadataTap};
use crate::rules::{
    check_file_name, check_name_and_version, normalize_name, DistKind, Metadata, Pypi,
};
use actix_multipart::Multipart;
use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest, HttpResponse};
use blake2::{Blake2b, Digest};
use futures_util::StreamExt;
use packages_core::{lower, FormatRules};
use packages_db::{FileDetails, NewProperty, PropertyOf};
use packages_storage::ingest::Ingested;
use sha2::Sha256;

use super::{CORE_METADATA, CORE_METADATA_SHA256};
use packages_api::auth::credentials_of;
use packages_api::blocking;
use packages_api::body::RequestBody;
use packages_api::error::{ApiError, ApiResult};
use packages_api::state::AppState;
use packages_api::upload::{
    prepare_upload, receive_body, store_upload, BodyLimit, UploadPlan, Uploader,
};
use packages_api::write_mode::WriteMode;

/// Most fields a form may have (twine sends a few dozen, classifiers included).
const MAX_FIELDS: usize = 512;
/// Largest text field (the long description is the big one).
const MAX_TEXT_FIELD: usize = 1 << 20;
/// Largest sum of all text fields.
const MAX_TEXT_TOTAL: usize = 4 << 20;

type Blake2b256 = Blake2b<blake2::digest::consts::U32>;

/// The text fields of the form, in the order received.
#[derive(Debug, Default)]
struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of a field; empty values count as absent.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &'static str) -> ApiResult<&str> {
        self.get(name)
            .ok_or_else(|| ApiError::BadRequest(format!("missing form field {name}")))
    }
}

/// The file field once it has been received.
struct Received {
    ingested: Ingested,
    file_name: String,
    blake2_256: String,
    core_metadata: Option<Vec<u8>>,
}

/// Refuses a body that is not a multipart form before anything else is read.
pub fn check_form_type(headers: &HeaderMap) -> ApiResult<()> {
    let is_form = headers
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == mime::MULTIPART
                && m.subtype() == mime::FORM_DATA
                && m.get_param(mime::BOUNDARY).is_some()
        });
    if is_form {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "expected a multipart/form-data body".to_owned(),
        ))
    }
}

fn form_error(e: actix_multipart::MultipartError, idle: std::time::Duration) -> ApiError {
    if let actix_multipart::MultipartError::Payload(p) = &e {
        if let Some(timeout) = packages_api::body::timeout_of(p, idle) {
            return timeout;
        }
    }
    ApiError::BadRequest(format!("invalid multipart form: {e}"))
}

/// Who uploads and the limit on the file; the form around it is not measured. Blocking.
pub fn prepare(
    state: &AppState,
    credentials: Option<forge_auth::Credentials>,
    owner: &str,
) -> ApiResult<(Uploader, Option<BodyLimit>)> {
    prepare_upload(state, credentials, owner, Pypi.package_type())
}

/// Handles the upload form.
pub async fn upload(
    req: HttpRequest,
    payload: RequestBody,
    state: web::Data<AppState>,
    owner: String,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    check_form_type(req.headers())?;
    let app = state.clone().into_inner();
    let (uploader, limit) = blocking::run(move || prepare(&app, credentials, &owner)).await?;
    let idle = payload.idle_timeout();
    let mut form = Multipart::new(req.headers(), payload.into_payload_stream());
    let mut fields = Fields::default();
    let mut received: Option<Received> = None;
    let (mut count, mut text_total) = (0usize, 0usize);
    while let Some(field) = form.next().await {
        let mut field = field.map_err(|e| form_error(e, idle))?;
        count += 1;
        if count > MAX_FIELDS {
            return Err(ApiError::BadRequest("too many form fields".to_owned()));
        }
        let name = field.name().unwrap_or_default().to_owned();
        if name == "content" {
            if received.is_some() {
                return Err(ApiError::BadRequest(
                    "more than one content field".to_owned(),
                ));
            }
            let file_name = field
                .content_disposition()
                .and_then(|cd| cd.get_filename())
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::BadRequest("the content field has no file name".to_owned())
                })?;
            // When the fields came first (as twine sends them), a bad or existing file is
            // refused before its bytes are stored.
            if let (Some(n), Some(v)) = (fields.get("name"), fields.get("version")) {
                check_name_and_version(n, v)?;
                check_file_name(n, v, &file_name)?;
                let (state, n, v, f) = (
                    state.clone().into_inner(),
                    n.to_owned(),
                    v.to_owned(),
                    file_name.clone(),
                );
                blocking::run(move || refuse_existing(&state, uploader.owner_id, &n, &v, &f))
                    .await?;
            }
            let is_wheel = lower(&file_name).ends_with(".whl");
            let mut tap = MetadataTap::new();
            let mut blake2 = Blake2b256::new();
            let body = (&mut field).map(|chunk| match chunk {
                Ok(bytes) => {
                    // Cheap next to the network: a skim of zip headers and one fast hash.
                    if is_wheel {
                        tap.feed(&bytes);
                    }
                    blake2.update(&bytes);
                    Ok(bytes)
                }
                Err(e) => {
                    log::info!("upload aborted: {e}");
                    Err(ApiError::IncompleteBody)
                }
            });
            let ingested = receive_body(&state, body, limit).await?;
            received = Some(Received {
                ingested,
                file_name,
                blake2_256: hex::encode(blake2.finalize()),
                core_metadata: if is_wheel { tap.finish() } else { None },
            });
        } else {
            let mut value = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| form_error(e, idle))?;
                text_total += chunk.len();
                if value.len() + chunk.len() > MAX_TEXT_FIELD || text_total > MAX_TEXT_TOTAL {
                    return Err(ApiError::BadRequest(format!(
                        "form field {name} is too large"
                    )));
                }
                value.extend_from_slice(&chunk);
            }
            let value = String::from_utf8(value)
                .map_err(|_| ApiError::BadRequest(format!("form field {name} is not UTF-8")))?;
            fields.0.push((name, value));
        }
    }
    let received =
        received.ok_or_else(|| ApiError::BadRequest("missing form field content".to_owned()))?;
    let plan = plan(&fields, &received, uploader, limit)?;
    store_upload(state.into_inner(), plan, received.ingested).await?;
    Ok(HttpResponse::Created().finish())
}

/// A 409 when the version already has this file. Blocking.
fn refuse_existing(
    state: &AppState,
    owner_id: i64,
    name: &str,
    version: &str,
    file: &str,
) -> ApiResult<()> {
    if state.db.file_exists(
        owner_id,
        Pypi.package_type(),
        &Pypi.lookup_name(name),
        &lower(version),
        &lower(file),
    )? {
        return Err(ApiError::Conflict("package file already exists"));
    }
    Ok(())
}

/// Checks the complete form against the received file and decides what to store.
fn plan(
    fields: &Fields,
    received: &Received,
    uploader: Uploader,
    limit: Option<BodyLimit>,
) -> ApiResult<UploadPlan> {
    if let Some(action) = fields.get(":action") {
        if action != "file_upload" {
            return Err(ApiError::BadRequest(format!("unsupported action {action}")));
        }
    }
    let name = fields.required("name")?;
    let version = fields.required("version")?;
    check_name_and_version(name, version)?;
    let kind = check_file_name(name, version, &received.file_name)?;
    let digests = &received.ingested.digests;
    let sha256 = fields.required("sha256_digest")?;
    let checks = [
        ("sha256_digest", Some(sha256), digests.sha256.as_str()),
        ("md5_digest", fields.get("md5_digest"), digests.md5.as_str()),
        (
            "blake2_256_digest",
            fields.get("blake2_256_digest"),
            received.blake2_256.as_str(),
        ),
    ];
    for (field, sent, actual) in checks {
        if let Some(sent) = sent {
            if !sent.trim().eq_ignore_ascii_case(actual) {
                return Err(ApiError::BadRequest(format!(
                    "hash mismatch: {field} does not match the uploaded file"
                )));
            }
        }
    }
    let metadata = Metadata {
        author: fields.get("author").unwrap_or_default().to_owned(),
        description: fields.get("description").unwrap_or_default().to_owned(),
        long_description: fields
            .get("long_description")
            .unwrap_or_default()
            .to_owned(),
        summary: fields.get("summary").unwrap_or_default().to_owned(),
        project_url: homepage(fields),
        license: fields.get("license").unwrap_or_default().to_owned(),
        requires_python: fields.get("requires_python").unwrap_or_default().to_owned(),
    };
    let mut properties = Vec::new();
    if kind == DistKind::Wheel {
        if let Some(text) = received
            .core_metadata
            .as_ref()
            .and_then(|m| std::str::from_utf8(m).ok())
            .filter(|m| describes(m, name, version))
        {
            properties.push(NewProperty {
                of: PropertyOf::File,
                name: CORE_METADATA_SHA256.to_owned(),
                value: hex::encode(Sha256::digest(text.as_bytes())),
            });
            properties.push(NewProperty {
                of: PropertyOf::File,
                name: CORE_METADATA.to_owned(),
                value: text.to_owned(),
            });
        }
    }
    let version_metadata = serde_json::to_string(&metadata).map_err(ApiError::internal)?;
    Ok(UploadPlan {
        owner_id: uploader.owner_id,
        creator_id: uploader.creator_id,
        exempt_from_limits: uploader.is_admin,
        package_type: Pypi.package_type(),
        name: name.to_owned(),
        version: version.to_owned(),
        file_name: received.file_name.clone(),
        details: FileDetails {
            lower_name: normalize_name(name),
            version_metadata: Some(version_metadata),
            composite_key: String::new(),
            is_lead: true,
            internal_version: false,
            properties,
        },
        claimed: Vec::new(),
        body_limit: limit,
        // A file that exists is a 409: PyPI files are never replaced.
        mode: WriteMode::Create,
    })
}

/// True when core metadata names this project and version; other metadata is not served.
fn describes(metadata: &str, name: &str, version: &str) -> bool {
    metadata_field(metadata, "Name").is_some_and(|n| normalize_name(n) == normalize_name(name))
        && metadata_field(metadata, "Version").is_some_and(|v| lower(v) == lower(version))
}

/// The project's home page: the `Homepage` entry of `project_urls` (labels normalised as the
/// well-known project URL rules say), else the older `home_page`; only http(s) URLs.
fn homepage(fields: &Fields) -> String {
    let label_key = |label: &str| -> String {
        label
            .chars()
            .filter(|c| !(c.is_ascii_punctuation() || c.is_whitespace()))
            .flat_map(char::to_lowercase)
            .collect()
    };
    let from_project_urls = fields.all("project_urls").find_map(|entry| {
        let (label, url) = entry.split_once(',')?;
        (label_key(label) == "homepage").then(|| url.trim().to_owned())
    });
    let url = from_project_urls
        .or_else(|| fields.get("home_page").map(str::to_owned))
        .unwrap_or_default();
    if url.starts_with("https://") || url.starts_with("http://") {
        url
    } else {
        String::new()
    }
}

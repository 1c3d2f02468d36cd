//! `PUT api/v1/crates/new`: the body cargo sends is a little-endian `u32` length, the JSON
//! metadata, another `u32` length and the `.crate`.
//!
//! The metadata is read first (bounded) and checked (name, version, the version not yet
//! published, also under another case) before a byte of the crate is stored; the crate then
//! streams into the blob store, and a body that ends early or runs long drops it. The index
//! line is built from the metadata here and kept with the version, so the index reads the
//! very rows the publish wrote.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use packages_core::{lower, FormatRules};
use packages_db::FileDetails;
use serde::{Deserialize, Serialize};

use crate::rules::{self, Cargo};
use packages_api::blocking;
use packages_api::body::RequestBody;
use packages_api::error::{ApiError, ApiResult};
use packages_api::formats::Format;
use packages_api::state::AppState;
use packages_api::upload::{prepare_upload, receive_body, store_upload, UploadPlan};
use packages_api::write_mode::WriteMode;

/// Largest metadata document taken (cargo's holds the readme).
pub const MAX_METADATA: u32 = 16 << 20;

/// A dependency as cargo publishes it.
#[derive(Debug, Clone, Deserialize)]
struct PublishedDependency {
    name: String,
    version_req: String,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default)]
    optional: bool,
    #[serde(default = "yes")]
    default_features: bool,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    registry: Option<String>,
    /// The name in the dependent's `Cargo.toml` when the dependency is renamed.
    #[serde(default)]
    explicit_name_in_toml: Option<String>,
}

fn yes() -> bool {
    true
}

/// The metadata cargo sends with a publish (the fields this registry keeps).
#[derive(Debug, Clone, Deserialize)]
struct Published {
    name: String,
    vers: String,
    #[serde(default)]
    deps: Vec<PublishedDependency>,
    #[serde(default)]
    features: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    documentation: Option<String>,
    #[serde(default)]
    homepage: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    links: Option<String>,
    #[serde(default)]
    rust_version: Option<String>,
}

/// A dependency as the index lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexDependency {
    /// The name the dependent uses (the alias when renamed).
    pub name: String,
    pub req: String,
    pub features: Vec<String>,
    pub optional: bool,
    pub default_features: bool,
    pub target: Option<String>,
    pub kind: String,
    pub registry: Option<String>,
    /// The crate's real name when `name` is an alias.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub package: Option<String>,
}

/// One line of an index file, in the field order of cargo's documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexLine {
    pub name: String,
    pub vers: String,
    pub deps: Vec<IndexDependency>,
    /// SHA-256 of the `.crate`; filled in when the index is read.
    #[serde(default)]
    pub cksum: String,
    pub features: BTreeMap<String, Vec<String>>,
    /// Features that use `dep:` or `?/` syntax, which cargo before 1.60 cannot read.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub features2: Option<BTreeMap<String, Vec<String>>>,
    /// Filled in when the index is read.
    #[serde(default)]
    pub yanked: bool,
    pub links: Option<String>,
    /// 2 when `features2` is there.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub v: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rust_version: Option<String>,
}

/// What is kept with a version: its index line and what search and the pages show.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Kept {
    pub index: Option<IndexLine>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub homepage: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub documentation: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repository: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub license: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// A URL worth showing: http(s) only.
fn url(text: Option<String>) -> String {
    text.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .unwrap_or_default()
}

/// Whether a feature's value uses the syntax older cargo cannot read.
fn new_syntax(values: &[String]) -> bool {
    values
        .iter()
        .any(|v| v.starts_with("dep:") || v.contains("?/"))
}

impl Published {
    /// The index line and the rest kept, for the crate named `name` (the existing
    /// package's spelling when there is one).
    fn kept(self, name: &str) -> Kept {
        let deps = self
            .deps
            .into_iter()
            .map(|d| {
                let (name, package) = match d.explicit_name_in_toml.filter(|n| !n.is_empty()) {
                    Some(alias) => (alias, Some(d.name)),
                    None => (d.name, None),
                };
                IndexDependency {
                    name,
                    req: d.version_req,
                    features: d.features,
                    optional: d.optional,
                    default_features: d.default_features,
                    target: d.target,
                    kind: d.kind.unwrap_or_else(|| "normal".to_owned()),
                    registry: d.registry,
                    package,
                }
            })
            .collect();
        let (features2, features): (BTreeMap<_, _>, BTreeMap<_, _>) = self
            .features
            .into_iter()
            .partition(|(_, values)| new_syntax(values));
        let features2 = (!features2.is_empty()).then_some(features2);
        let v = features2.as_ref().map(|_| 2);
        Kept {
            index: Some(IndexLine {
                name: name.to_owned(),
                vers: self.vers,
                deps,
                cksum: String::new(),
                features,
                features2,
                yanked: false,
                links: self.links.filter(|l| !l.is_empty()),
                v,
                rust_version: self.rust_version.filter(|r| !r.is_empty()),
            }),
            description: self.description.unwrap_or_default(),
            authors: self.authors,
            homepage: url(self.homepage),
            documentation: url(self.documentation),
            repository: url(self.repository),
            license: self.license.unwrap_or_default(),
            keywords: self.keywords,
            categories: self.categories,
        }
    }
}

/// Whether two versions are one for cargo: equal but for build metadata (`1.0.0+a` is
/// `1.0.0+b`), compared as stored (case-insensitively).
fn same_version(stored: &str, new: &str) -> bool {
    let release = |v: &str| lower(v.split('+').next().unwrap_or(v));
    release(stored) == release(new)
}

/// Cuts the `.crate` out of the rest of the body: its `u32` length, then exactly that many
/// bytes.
#[derive(Debug, Default)]
struct CrateFrame {
    length: Vec<u8>,
    remaining: Option<u32>,
    trailing: bool,
}

impl CrateFrame {
    fn take(&mut self, mut chunk: &[u8]) -> Vec<u8> {
        if self.remaining.is_none() {
            let need = 4 - self.length.len();
            let head = need.min(chunk.len());
            self.length.extend_from_slice(&chunk[..head]);
            chunk = &chunk[head..];
            if let Ok(bytes) = <[u8; 4]>::try_from(self.length.as_slice()) {
                self.remaining = Some(u32::from_le_bytes(bytes));
            }
        }
        let Some(remaining) = self.remaining.as_mut() else {
            return Vec::new();
        };
        let take = (*remaining as usize).min(chunk.len());
        *remaining -= take as u32;
        if chunk.len() > take {
            self.trailing = true;
        }
        chunk[..take].to_vec()
    }

    fn complete(&self) -> bool {
        self.remaining == Some(0) && !self.trailing
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

/// Reads the metadata: its length and the JSON. Answers it with the bytes read past it.
async fn read_metadata(payload: &mut RequestBody) -> ApiResult<(Vec<u8>, Bytes)> {
    let mut buf: Vec<u8> = Vec::new();
    let mut wanted: Option<usize> = None;
    loop {
        if wanted.is_none() && buf.len() >= 4 {
            let length = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
            if length > MAX_METADATA {
                return Err(ApiError::PayloadTooLarge(
                    "the crate's metadata is larger than 16 MiB",
                ));
            }
            wanted = Some(4 + length as usize);
        }
        if let Some(end) = wanted.filter(|&end| buf.len() >= end) {
            let rest = Bytes::copy_from_slice(&buf[end..]);
            buf.truncate(end);
            buf.drain(..4);
            return Ok((buf, rest));
        }
        match payload.next().await {
            Some(chunk) => buf.extend_from_slice(&chunk?),
            None => return Err(bad("the publish body ends inside the metadata")),
        }
    }
}

/// Handles the publish.
pub async fn publish(
    req: HttpRequest,
    mut payload: RequestBody,
    state: web::Data<AppState>,
    owner: String,
) -> ApiResult<HttpResponse> {
    let credentials = Cargo.credentials(req.headers())?;
    let app = state.clone().into_inner();
    let (uploader, limit) =
        blocking::run(move || prepare_upload(&app, credentials, &owner, Cargo.package_type()))
            .await?;
    let (json, rest) = read_metadata(&mut payload).await?;
    let published: Published = serde_json::from_slice(&json)
        .map_err(|e| bad(format!("the crate's metadata is not valid: {e}")))?;
    if !rules::valid_name(&published.name) {
        return Err(bad(format!(
            "invalid crate name {:?}: an ASCII letter, then letters, digits, - and _, at most 64",
            published.name
        )));
    }
    let version = rules::parse_version(&published.vers)
        .ok_or_else(|| bad(format!("invalid version {:?}: not SemVer", published.vers)))?
        .to_string();
    // The existing package keeps its spelling; the same version under any case is taken.
    let (app, asked, v) = (
        state.clone().into_inner(),
        published.name.clone(),
        version.clone(),
    );
    let name = blocking::run(move || {
        let existing = app.db.package_files(
            uploader.owner_id,
            Cargo.package_type(),
            &Cargo.lookup_name(&asked),
        )?;
        match existing {
            Some((_, files)) if files.iter().any(|f| same_version(&f.version.version, &v)) => {
                Err(ApiError::Conflict("crate version already exists"))
            }
            Some((package, _)) => Ok(package.name),
            None => Ok(asked),
        }
    })
    .await?;
    let kept = published.kept(&name);
    let frame = Rc::new(RefCell::new(CrateFrame::default()));
    let cutting = frame.clone();
    let body = futures_util::stream::once(async move { Ok(rest) })
        .chain(payload)
        .map(move |chunk: ApiResult<Bytes>| Ok(Bytes::from(cutting.borrow_mut().take(&chunk?))))
        .filter(|piece| futures_util::future::ready(!matches!(piece, Ok(b) if b.is_empty())));
    let ingested = receive_body(&state, Box::pin(body), limit).await?;
    if !frame.borrow().complete() {
        return Err(bad(
            "the publish body does not end where the crate's length says",
        ));
    }
    let plan = UploadPlan {
        owner_id: uploader.owner_id,
        creator_id: uploader.creator_id,
        exempt_from_limits: uploader.is_admin,
        package_type: Cargo.package_type(),
        name: name.clone(),
        version: version.clone(),
        file_name: rules::crate_file(&name, &version),
        details: FileDetails {
            lower_name: Cargo.lookup_name(&name),
            version_metadata: Some(serde_json::to_string(&kept).map_err(ApiError::internal)?),
            composite_key: String::new(),
            is_lead: true,
            internal_version: false,
            properties: Vec::new(),
        },
        claimed: Vec::new(),
        body_limit: limit,
        mode: WriteMode::Create,
    };
    store_upload(state.into_inner(), plan, ingested)
        .await
        .map_err(|e| match e {
            ApiError::Conflict(_) => ApiError::Conflict("crate version already exists"),
            other => other,
        })?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "warnings": { "invalid_categories": [], "invalid_badges": [], "other": [] }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_metadata_does_not_make_a_new_version() {
        assert!(same_version("1.0.0+a", "1.0.0+b"));
        assert!(same_version("1.0.0", "1.0.0+b"));
        assert!(same_version("1.0.0-RC", "1.0.0-rc"));
        assert!(!same_version("1.0.0", "1.0.1"));
        assert!(!same_version("1.0.0-rc", "1.0.0"));
    }

    #[test]
    fn frames_the_crate() {
        let mut body = 5u32.to_le_bytes().to_vec();
        body.extend_from_slice(b"hello");
        for cut in 0..body.len() {
            let mut f = CrateFrame::default();
            let mut out = f.take(&body[..cut]);
            out.extend(f.take(&body[cut..]));
            assert_eq!(out, b"hello");
            assert!(f.complete());
        }
        let mut short = CrateFrame::default();
        short.take(&body[..7]);
        assert!(!short.complete());
        let mut long = CrateFrame::default();
        let mut more = body.clone();
        more.push(0);
        long.take(&more);
        assert!(!long.complete());
    }

    #[test]
    fn index_lines_from_metadata() {
        let published: Published = serde_json::from_value(serde_json::json!({
            "name": "Demo", "vers": "1.2.3",
            "deps": [
                {"name": "real", "version_req": "^1", "features": [], "optional": false,
                 "default_features": true, "target": null, "kind": "normal", "registry": null,
                 "explicit_name_in_toml": "alias"},
                {"name": "opt", "version_req": "=0.1", "features": ["x"], "optional": true,
                 "default_features": false, "target": "cfg(unix)", "kind": "dev", "registry": null}
            ],
            "features": {"default": ["std"], "std": [], "extra": ["dep:opt"]},
            "links": "z", "rust_version": "1.70", "homepage": "javascript:x"
        }))
        .unwrap();
        let kept = published.kept("Demo");
        assert_eq!(kept.homepage, "");
        let line = kept.index.unwrap();
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["deps"][0]["name"], "alias");
        assert_eq!(json["deps"][0]["package"], "real");
        assert_eq!(json["deps"][0]["req"], "^1");
        assert!(json["deps"][1].get("package").is_none());
        assert_eq!(json["deps"][1]["kind"], "dev");
        assert_eq!(json["deps"][1]["target"], "cfg(unix)");
        assert_eq!(
            json["features"],
            serde_json::json!({"default": ["std"], "std": []})
        );
        assert_eq!(json["features2"], serde_json::json!({"extra": ["dep:opt"]}));
        assert_eq!(json["v"], 2);
        assert_eq!(json["links"], "z");
        assert_eq!(json["rust_version"], "1.70");
    }
}

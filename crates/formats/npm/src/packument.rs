//! The packument: everything npm knows about a package, in full (`GET {id}`, and what
//! `?write=true` edits) or abbreviated for installs (`Accept: application/vnd.npm.install-v1+json`).
//!
//! It is built from the rows on every request, so a publish or a dist-tag change through any
//! instance shows at once; an `ETag` over the document lets clients revalidate for free.

use std::collections::BTreeMap;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use packages_core::clock::rfc3339;
use packages_core::{AccessMode, FormatRules};
use packages_db::{IndexedFile, PropertyOf};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::rules::{self, Npm, DEPRECATED, TAG};
use packages_api::auth::{authenticate, credentials_of};
use packages_api::blocking;
use packages_api::error::{ApiError, ApiResult};
use packages_api::serve::still_fresh;
use packages_api::state::AppState;
use packages_service::access::authorize_owner;

/// The abbreviated packument's media type.
pub const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

/// Fields of a version the abbreviated form keeps (npm's list).
const INSTALL_FIELDS: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "bin",
    "directories",
    "dist",
    "engines",
    "cpu",
    "os",
    "libc",
    "_hasShrinkwrap",
    "hasInstallScript",
    "funding",
    "acceptDependencies",
];

/// Package-level fields the full form takes from the `latest` version.
const PACKAGE_FIELDS: &[&str] = &[
    "description",
    "readme",
    "homepage",
    "keywords",
    "license",
    "repository",
    "author",
    "bugs",
    "contributors",
];

/// A stored version with what npm needs of it.
pub struct Entry {
    pub file: IndexedFile,
    pub semver: semver::Version,
    pub manifest: Map<String, Value>,
    pub deprecated: Option<String>,
}

/// Version properties as read: `(version id, name, value)`, in insertion order.
pub type Properties = Vec<(i64, String, String)>;

/// A package's versions in SemVer order with its dist-tags.
pub struct Loaded {
    pub name: String,
    pub entries: Vec<Entry>,
    /// Tag to index in `entries`; always has `latest`.
    pub tags: BTreeMap<String, usize>,
    /// What the document is made of, for its [`etag`].
    pub version_ids: Vec<i64>,
    pub properties: Properties,
}

/// The `ETag` of a packument. A version's manifest and tarball never change and version ids
/// are never reused, so the ids with the versions' properties (dist-tags, deprecations) say
/// exactly what the document holds, given the form, the origin its URLs use and the owner:
/// a revalidation needs only those two small reads, never the document.
pub fn etag(
    form: Form,
    origin: &str,
    owner: &str,
    version_ids: &[i64],
    properties: &[(i64, String, String)],
) -> String {
    let mut hash = Sha256::new();
    for part in [format!("{form:?}"), origin.to_owned(), owner.to_owned()] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    for id in version_ids {
        hash.update(id.to_le_bytes());
    }
    for (id, name, value) in properties {
        hash.update(id.to_le_bytes());
        for text in [name, value] {
            hash.update((text.len() as u64).to_le_bytes());
            hash.update(text.as_bytes());
        }
    }
    format!("\"{}\"", &hex::encode(hash.finalize())[..32])
}

/// The ids and properties an [`etag`] is made of, read without the versions' files and
/// manifests; `None` when the package has no version. Blocking.
pub fn stamp(
    state: &AppState,
    owner_id: i64,
    name: &str,
) -> ApiResult<Option<(Vec<i64>, Properties)>> {
    let ids: Vec<i64> = state
        .db
        .version_stamps(owner_id, Npm.package_type(), &Npm.lookup_name(name))?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let properties = state.db.properties(PropertyOf::Version, &ids)?;
    Ok(Some((ids, properties)))
}

impl Loaded {
    /// The dist-tags as npm shows them.
    pub fn tag_versions(&self) -> Map<String, Value> {
        self.tags
            .iter()
            .map(|(tag, &i)| {
                (
                    tag.clone(),
                    Value::String(self.entries[i].file.version.version.clone()),
                )
            })
            .collect()
    }
}

/// The caller's owner id once read access is granted. Blocking.
pub fn readable_owner(
    state: &AppState,
    credentials: Option<forge_auth::Credentials>,
    owner: &str,
) -> ApiResult<i64> {
    let auth = authenticate(state, credentials)?;
    Ok(authorize_owner(state, &auth, owner, AccessMode::Read)?
        .owner
        .id)
}

/// Reads a package; `None` when it has no version. Blocking.
pub fn load(state: &AppState, owner_id: i64, name: &str) -> ApiResult<Option<Loaded>> {
    let Some((package, files)) =
        state
            .db
            .package_files(owner_id, Npm.package_type(), &Npm.lookup_name(name))?
    else {
        return Ok(None);
    };
    let mut ids: Vec<i64> = files.iter().map(|f| f.version.id).collect();
    ids.dedup();
    let properties = state.db.properties(PropertyOf::Version, &ids)?;
    let mut entries: Vec<Entry> = Vec::with_capacity(files.len());
    let mut seen = std::collections::HashSet::new();
    for file in files {
        // One tarball per version; a second file (none is written) would not be served.
        if !seen.insert(file.version.id) {
            continue;
        }
        let Ok(semver) = semver::Version::parse(&file.version.version) else {
            continue;
        };
        let manifest = file
            .version
            .metadata_json
            .as_deref()
            .and_then(|m| serde_json::from_str::<Map<String, Value>>(m).ok())
            .unwrap_or_default();
        entries.push(Entry {
            file,
            semver,
            manifest,
            deprecated: None,
        });
    }
    if entries.is_empty() {
        return Ok(None);
    }
    entries.sort_by(|a, b| a.semver.cmp(&b.semver));
    let index: std::collections::HashMap<i64, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.file.version.id, i))
        .collect();
    let mut tags = BTreeMap::new();
    // In id order, so the newest row wins should a tag ever be held twice.
    for (version_id, name, value) in properties.iter().cloned() {
        let Some(&i) = index.get(&version_id) else {
            continue;
        };
        match name.as_str() {
            TAG => {
                tags.insert(value, i);
            }
            DEPRECATED => entries[i].deprecated = Some(value),
            _ => {}
        }
    }
    if !tags.contains_key("latest") {
        // yarn and pnpm need `latest`: the highest release, else the highest version.
        let latest = entries
            .iter()
            .rposition(|e| e.semver.pre.is_empty())
            .unwrap_or(entries.len() - 1);
        tags.insert("latest".to_owned(), latest);
    }
    Ok(Some(Loaded {
        name: package.name,
        entries,
        tags,
        version_ids: ids,
        properties,
    }))
}

/// What a GET asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Full,
    Abbreviated,
}

impl Form {
    /// The abbreviated form when the `Accept` header names it (with a non-zero quality) and
    /// the client is not about to edit the document (`?write=true`).
    pub fn of(headers: &HeaderMap, query: &str) -> Form {
        let write = query
            .split('&')
            .any(|pair| pair.eq_ignore_ascii_case("write=true"));
        let wants = headers
            .get_all(header::ACCEPT)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let media = parts.next().unwrap_or_default();
                let zero = parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                media.eq_ignore_ascii_case(ABBREVIATED) && !zero
            });
        if wants && !write {
            Form::Abbreviated
        } else {
            Form::Full
        }
    }
}

/// One version as the full packument shows it.
fn full_version(origin: &str, owner: &str, name: &str, e: &Entry) -> Value {
    let mut v = e.manifest.clone();
    let version = &e.file.version.version;
    v.insert("name".to_owned(), Value::String(name.to_owned()));
    v.insert("version".to_owned(), Value::String(version.clone()));
    v.insert("_id".to_owned(), Value::String(format!("{name}@{version}")));
    v.insert("dist".to_owned(), tarball_dist(origin, owner, name, e));
    if let Some(message) = &e.deprecated {
        v.insert("deprecated".to_owned(), Value::String(message.clone()));
    }
    Value::Object(v)
}

/// One version as the abbreviated packument shows it.
fn install_version(origin: &str, owner: &str, name: &str, e: &Entry) -> Value {
    let Value::Object(full) = full_version(origin, owner, name, e) else {
        return Value::Null;
    };
    let mut v: Map<String, Value> = full
        .into_iter()
        .filter(|(k, _)| INSTALL_FIELDS.contains(&k.as_str()))
        .collect();
    let scripts = e.manifest.get("scripts").and_then(Value::as_object);
    let installs = scripts.is_some_and(|s| {
        ["preinstall", "install", "postinstall"]
            .iter()
            .any(|k| s.contains_key(*k))
    });
    if installs {
        v.insert("hasInstallScript".to_owned(), Value::Bool(true));
    }
    Value::Object(v)
}

/// `dist` of a version: the tarball's URL (under the registry base, where npm sends the
/// token) and digests.
fn tarball_dist(origin: &str, owner: &str, name: &str, e: &Entry) -> Value {
    let sha512 = hex::decode(&e.file.blob.hash_sha512).unwrap_or_default();
    serde_json::json!({
        "integrity": format!("sha512-{}", base64::engine::general_purpose::STANDARD.encode(sha512)),
        "shasum": e.file.blob.hash_sha1,
        "tarball": format!(
            "{origin}{}",
            rules::tarball_path(owner, name, &e.file.version.version, &e.file.file.name)
        ),
    })
}

/// The document of a package in the asked form.
pub fn document(loaded: &Loaded, form: Form, origin: &str, owner: &str) -> Value {
    let name = loaded.name.as_str();
    let modified = loaded
        .entries
        .iter()
        .map(|e| e.file.version.created_unix)
        .max()
        .unwrap_or_default();
    if form == Form::Abbreviated {
        let versions: Map<String, Value> = loaded
            .entries
            .iter()
            .map(|e| {
                (
                    e.file.version.version.clone(),
                    install_version(origin, owner, name, e),
                )
            })
            .collect();
        return serde_json::json!({
            "name": name,
            "modified": rfc3339(modified),
            "dist-tags": loaded.tag_versions(),
            "versions": versions,
        });
    }
    let mut time = Map::new();
    let created = loaded
        .entries
        .iter()
        .map(|e| e.file.version.created_unix)
        .min()
        .unwrap_or_default();
    time.insert("created".to_owned(), Value::String(rfc3339(created)));
    time.insert("modified".to_owned(), Value::String(rfc3339(modified)));
    let mut versions = Map::new();
    for e in &loaded.entries {
        let version = e.file.version.version.clone();
        time.insert(
            version.clone(),
            Value::String(rfc3339(e.file.version.created_unix)),
        );
        versions.insert(version, full_version(origin, owner, name, e));
    }
    let mut doc = Map::new();
    doc.insert("_id".to_owned(), Value::String(name.to_owned()));
    doc.insert("name".to_owned(), Value::String(name.to_owned()));
    if let Some(&latest) = loaded.tags.get("latest") {
        for field in PACKAGE_FIELDS {
            if let Some(value) = loaded.entries[latest].manifest.get(*field) {
                doc.insert((*field).to_owned(), value.clone());
            }
        }
    }
    doc.insert("dist-tags".to_owned(), Value::Object(loaded.tag_versions()));
    doc.insert("time".to_owned(), Value::Object(time));
    doc.insert(
        "maintainers".to_owned(),
        serde_json::json!([{ "name": owner }]),
    );
    doc.insert("versions".to_owned(), Value::Object(versions));
    Value::Object(doc)
}

/// `GET`/`HEAD {id}`. A request with `If-None-Match` is first answered from the stamp alone
/// (npm revalidates every packument it has cached): a current copy costs no document.
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
    name: String,
) -> ApiResult<HttpResponse> {
    let credentials = credentials_of(&req)?;
    let form = Form::of(req.headers(), req.query_string());
    let origin = packages_api::urls::origin(&req).base().to_owned();
    let headers = req.headers().clone();
    let state = state.into_inner();
    let (etag, body) = blocking::run(move || {
        let owner_id = readable_owner(&state, credentials, &owner)?;
        let missing = || ApiError::NotFound("package does not exist");
        if headers.contains_key(header::IF_NONE_MATCH) {
            let (ids, properties) = stamp(&state, owner_id, &name)?.ok_or_else(missing)?;
            let tag = etag(form, &origin, &owner, &ids, &properties);
            if still_fresh(&headers, &tag, None) {
                return Ok((tag, None));
            }
        }
        let loaded = load(&state, owner_id, &name)?.ok_or_else(missing)?;
        let tag = etag(
            form,
            &origin,
            &owner,
            &loaded.version_ids,
            &loaded.properties,
        );
        let doc = document(&loaded, form, &origin, &owner);
        Ok((
            tag,
            Some(serde_json::to_vec(&doc).map_err(ApiError::internal)?),
        ))
    })
    .await?;
    let content_type = match form {
        Form::Abbreviated => ABBREVIATED,
        Form::Full => "application/json",
    };
    let mut response = match body {
        Some(_) => HttpResponse::Ok(),
        None => HttpResponse::NotModified(),
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::VARY, "Accept, Authorization"))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    Ok(match body {
        Some(body) => response.content_type(content_type).body(body),
        None => response.finish(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn etags_follow_what_the_document_holds() {
        let props = vec![(7, TAG.to_owned(), "latest".to_owned())];
        let base = etag(Form::Full, "http://h", "o", &[1, 2], &props);
        assert_eq!(base, etag(Form::Full, "http://h", "o", &[1, 2], &props));
        let moved = vec![(8, TAG.to_owned(), "latest".to_owned())];
        let deprecated = vec![
            (7, TAG.to_owned(), "latest".to_owned()),
            (9, DEPRECATED.to_owned(), "old".to_owned()),
        ];
        for other in [
            etag(Form::Abbreviated, "http://h", "o", &[1, 2], &props),
            etag(Form::Full, "https://h", "o", &[1, 2], &props),
            etag(Form::Full, "http://h", "p", &[1, 2], &props),
            etag(Form::Full, "http://h", "o", &[1], &props),
            etag(Form::Full, "http://h", "o", &[1, 2], &moved),
            etag(Form::Full, "http://h", "o", &[1, 2], &deprecated),
        ] {
            assert_ne!(other, base);
        }
    }

    #[test]
    fn forms() {
        let npm = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";
        assert_eq!(Form::of(&accept(npm), ""), Form::Abbreviated);
        assert_eq!(Form::of(&accept(npm), "write=true"), Form::Full);
        assert_eq!(Form::of(&accept("application/json"), ""), Form::Full);
        assert_eq!(
            Form::of(&accept("application/vnd.npm.install-v1+json;q=0"), ""),
            Form::Full
        );
        assert_eq!(Form::of(&HeaderMap::new(), ""), Form::Full);
    }
}

//! The simple repository API: the project list (`simple/`) and a project's files
//! (`simple/{name}`), as PEP 503 HTML or, when asked for, PEP 691 JSON, with PEP 658/714
//! core metadata announced for wheels whose metadata was kept at upload.

use std::collections::HashMap;

use crate::rules::{normalize_name, Metadata, Pypi};
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest, HttpResponse};
use packages_core::{AccessMode, FormatRules};
use packages_db::{IndexedFile, PropertyOf};
use serde_json::json;

use super::{CORE_METADATA_SHA256, JSON_TYPE};
use packages_api::auth::{authenticate, credentials_of};
use packages_api::blocking;
use packages_api::error::{ApiError, ApiResult};
use packages_api::state::AppState;
use packages_service::access::authorize_owner;

/// How the client wants the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Representation {
    /// PEP 503 HTML, under the media type the client named.
    Html(&'static str),
    /// PEP 691 JSON.
    Json,
}

/// The media types offered, in order of preference on a tie (HTML first, so `*/*` gets it).
const OFFERS: &[(&str, Representation)] = &[
    ("text/html", Representation::Html("text/html")),
    ("application/vnd.pypi.simple.v1+json", Representation::Json),
    (
        "application/vnd.pypi.simple.v1+html",
        Representation::Html("application/vnd.pypi.simple.v1+html"),
    ),
    (
        "application/vnd.pypi.simple.latest+json",
        Representation::Json,
    ),
    (
        "application/vnd.pypi.simple.latest+html",
        Representation::Html("application/vnd.pypi.simple.v1+html"),
    ),
];

/// Picks the representation by the `Accept` header's quality values; `None` when nothing
/// offered is acceptable.
fn negotiate(headers: &HeaderMap) -> Option<Representation> {
    let accept = headers
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    if accept.trim().is_empty() {
        return Some(Representation::Html("text/html"));
    }
    let ranges: Vec<(String, f32)> = accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let range = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (!range.is_empty()).then_some((range, q))
        })
        .collect();
    let quality = |offer: &str| -> f32 {
        let (kind, _) = offer.split_once('/').unwrap_or((offer, ""));
        // The most specific matching range decides.
        let exact = ranges.iter().find(|(r, _)| r == offer);
        let by_kind = ranges.iter().find(|(r, _)| *r == format!("{kind}/*"));
        let any = ranges.iter().find(|(r, _)| r == "*/*");
        exact.or(by_kind).or(any).map_or(0.0, |(_, q)| *q)
    };
    let mut best: Option<(f32, Representation)> = None;
    for (offer, repr) in OFFERS {
        let q = quality(offer);
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, *repr));
        }
    }
    best.map(|(_, r)| r)
}

/// Escapes text for HTML content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes one path segment.
pub(super) fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, super::SEGMENT).to_string()
}

/// The registry's path for this owner: `/api/packages/{owner}/pypi`.
pub(super) fn registry_path(owner: &str) -> String {
    format!(
        "{}/{}/pypi",
        packages_api::registry::path::PREFIX,
        seg(owner)
    )
}

/// Reads the owner after authenticating and checking read access. Blocking.
fn readable_owner(
    state: &AppState,
    req_credentials: Option<forge_auth::Credentials>,
    owner: &str,
) -> ApiResult<packages_db::User> {
    let auth = authenticate(state, req_credentials)?;
    Ok(authorize_owner(state, &auth, owner, AccessMode::Read)?.owner)
}

/// The request's credentials and the representation it accepts (406 when none).
fn what_is_asked(
    req: &HttpRequest,
) -> ApiResult<(Option<forge_auth::Credentials>, Representation)> {
    let credentials = credentials_of(req)?;
    let representation = negotiate(req.headers()).ok_or(ApiError::NotAcceptable(
        "no supported content type in Accept header",
    ))?;
    Ok((credentials, representation))
}

/// `GET simple/`: every project of the owner.
pub async fn projects(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
) -> ApiResult<HttpResponse> {
    let (credentials, representation) = what_is_asked(&req)?;
    let state = state.into_inner();
    let (owner, packages) = blocking::run(move || {
        let owner = readable_owner(&state, credentials, &owner)?;
        let packages = state
            .db
            .packages_with_versions(owner.id, Pypi.package_type())?;
        Ok((owner, packages))
    })
    .await?;
    let base = registry_path(&owner.name);
    Ok(match representation {
        Representation::Json => {
            let projects: Vec<_> = packages.iter().map(|p| json!({ "name": p.name })).collect();
            HttpResponse::Ok()
                .content_type(JSON_TYPE)
                .body(json!({ "meta": { "api-version": "1.1" }, "projects": projects }).to_string())
        }
        Representation::Html(media_type) => {
            let mut body = String::from(
                "<!DOCTYPE html>\n<html>\n<head>\n<meta name=\"pypi:repository-version\" content=\"1.1\">\n<title>Simple index</title>\n</head>\n<body>\n",
            );
            for p in &packages {
                body.push_str(&format!(
                    "<a href=\"{}/simple/{}/\">{}</a><br>\n",
                    escape(&base),
                    escape(&seg(&normalize_name(&p.name))),
                    escape(&p.name)
                ));
            }
            body.push_str("</body>\n</html>\n");
            HttpResponse::Ok().content_type(media_type).body(body)
        }
    })
}

/// One file as the index shows it.
struct Link<'a> {
    file: &'a IndexedFile,
    url: String,
    requires_python: String,
    core_metadata_sha256: Option<&'a str>,
}

/// `GET simple/{name}`: the project's files.
pub async fn project(
    req: HttpRequest,
    state: web::Data<AppState>,
    owner: String,
    name: String,
) -> ApiResult<HttpResponse> {
    let (credentials, representation) = what_is_asked(&req)?;
    let state = state.into_inner();
    let (owner, found, hashes) = blocking::run(move || {
        let owner = readable_owner(&state, credentials, &owner)?;
        let found = state
            .db
            .package_files(owner.id, Pypi.package_type(), &Pypi.lookup_name(&name))?
            .ok_or(ApiError::NotFound("package does not exist"))?;
        let ids: Vec<i64> = found.1.iter().map(|f| f.file.id).collect();
        let hashes: HashMap<i64, String> = state
            .db
            .properties_named(PropertyOf::File, &ids, Some(CORE_METADATA_SHA256))?
            .into_iter()
            .map(|(id, _, value)| (id, value))
            .collect();
        Ok((owner, found, hashes))
    })
    .await?;
    let (package, files) = found;
    let base = registry_path(&owner.name);
    let links: Vec<Link<'_>> = files
        .iter()
        .map(|f| {
            let metadata: Metadata = f
                .version
                .metadata_json
                .as_deref()
                .and_then(|m| serde_json::from_str(m).ok())
                .unwrap_or_default();
            Link {
                file: f,
                url: format!(
                    "{base}/files/{}/{}/{}",
                    seg(&package.lower_name),
                    seg(&f.version.version),
                    seg(&f.file.name)
                ),
                requires_python: metadata.requires_python,
                core_metadata_sha256: hashes.get(&f.file.id).map(String::as_str),
            }
        })
        .collect();
    Ok(match representation {
        Representation::Json => {
            let mut versions: Vec<&str> = Vec::new();
            for f in &files {
                if !versions.contains(&f.version.version.as_str()) {
                    versions.push(&f.version.version);
                }
            }
            let files: Vec<_> = links
                .iter()
                .map(|l| {
                    let metadata = l
                        .core_metadata_sha256
                        .map_or(json!(false), |h| json!({ "sha256": h }));
                    let mut entry = json!({
                        "filename": l.file.file.name,
                        "url": l.url,
                        "hashes": { "sha256": l.file.blob.hash_sha256 },
                        "size": l.file.blob.size,
                        "upload-time": packages_core::clock::rfc3339(l.file.file.created_unix),
                        "core-metadata": metadata,
                        "dist-info-metadata": metadata,
                    });
                    if !l.requires_python.is_empty() {
                        entry["requires-python"] = json!(l.requires_python);
                    }
                    entry
                })
                .collect();
            let body = json!({
                "meta": { "api-version": "1.1" },
                "name": package.lower_name,
                "versions": versions,
                "files": files,
            });
            HttpResponse::Ok()
                .content_type(JSON_TYPE)
                .body(body.to_string())
        }
        Representation::Html(media_type) => {
            let title = escape(&package.name);
            let mut body = format!(
                "<!DOCTYPE html>\n<html>\n<head>\n<meta name=\"pypi:repository-version\" content=\"1.1\">\n<title>Links for {title}</title>\n</head>\n<body>\n<h1>Links for {title}</h1>\n"
            );
            for l in &links {
                let mut attrs = String::new();
                if !l.requires_python.is_empty() {
                    attrs.push_str(&format!(
                        " data-requires-python=\"{}\"",
                        escape(&l.requires_python)
                    ));
                }
                if let Some(h) = l.core_metadata_sha256 {
                    attrs.push_str(&format!(
                        " data-core-metadata=\"sha256={0}\" data-dist-info-metadata=\"sha256={0}\"",
                        escape(h)
                    ));
                }
                body.push_str(&format!(
                    "<a href=\"{}#sha256={}\"{attrs}>{}</a><br>\n",
                    escape(&l.url),
                    escape(&l.file.blob.hash_sha256),
                    escape(&l.file.file.name)
                ));
            }
            body.push_str("</body>\n</html>\n");
            HttpResponse::Ok().content_type(media_type).body(body)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn accept(v: &str) -> Option<Representation> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        negotiate(&h)
    }

    #[test]
    fn negotiation() {
        let html = Some(Representation::Html("text/html"));
        assert_eq!(negotiate(&HeaderMap::new()), html);
        assert_eq!(accept("*/*"), html);
        assert_eq!(accept("text/html"), html);
        assert_eq!(
            accept("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"),
            Some(Representation::Json)
        );
        assert_eq!(
            accept("application/vnd.pypi.simple.v1+json;q=0.2, text/html"),
            html
        );
        assert_eq!(
            accept("application/vnd.pypi.simple.latest+html"),
            Some(Representation::Html("application/vnd.pypi.simple.v1+html"))
        );
        assert_eq!(accept("application/json"), None);
        assert_eq!(accept("text/html;q=0"), None);
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape(r#">=3.8,<4 & "x" 'y'"#),
            "&gt;=3.8,&lt;4 &amp; &quot;x&quot; &#39;y&#39;"
        );
    }
}

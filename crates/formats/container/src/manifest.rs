//! Reading a manifest: its media type, what it references, and what the registry keeps of
//! it (the version metadata the pages and the referrers API show).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::errors::{OciError, OciResult};
use crate::names::Digest;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The largest manifest accepted, as the reference registry's.
pub const MAX_MANIFEST: usize = 4 * 1024 * 1024;

/// Whether a manifest of this media type lists other manifests.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// A platform of an index entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub digest: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub os: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    pub size: i64,
    /// An attestation (BuildKit's provenance and SBOM manifests inside an index).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attestation: bool,
}

/// What the registry keeps of a manifest as its version's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    #[serde(
        rename = "artifactType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub artifact_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub annotations: Map<String, Value>,
    /// Of an index: its manifests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Platform>,
    /// Of an image: the total size of its config and layers.
    #[serde(rename = "contentSize", default)]
    pub content_size: i64,
    #[serde(rename = "layerCount", default)]
    pub layer_count: usize,
}

/// A parsed manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub metadata: Metadata,
    /// Digests the manifest needs in the repository: config and layers of an image, the
    /// manifests of an index. Foreign layers are left out.
    pub references: Vec<Digest>,
}

fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    object.get(name).and_then(Value::as_str)
}

/// A descriptor's digest and size; a malformed one makes the manifest invalid.
fn descriptor(value: &Value, what: &str) -> OciResult<(Digest, i64, Map<String, Value>)> {
    let object = value
        .as_object()
        .ok_or_else(|| OciError::manifest_invalid(format!("{what} is not a descriptor")))?;
    let digest = field(object, "digest")
        .ok_or_else(|| OciError::manifest_invalid(format!("{what} has no digest")))?;
    let digest = Digest::parse(digest)
        .map_err(|e| OciError::manifest_invalid(format!("{what}: {}", e.message)))?;
    let size = object.get("size").and_then(Value::as_i64).unwrap_or(0);
    Ok((digest, size, object.clone()))
}

/// Parses `bytes` (whose digest is `digest`), sent with `content_type`.
pub fn parse(bytes: &[u8], digest: &Digest, content_type: Option<&str>) -> OciResult<Manifest> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| OciError::manifest_invalid(format!("the manifest is not JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| OciError::manifest_invalid("the manifest is not a JSON object"))?;
    if object.get("schemaVersion").and_then(Value::as_i64) != Some(2) {
        return Err(OciError::manifest_invalid(
            "only schemaVersion 2 manifests are supported",
        ));
    }
    let header_type = content_type
        .map(|t| t.split(';').next().unwrap_or(t).trim())
        .filter(|t| !t.is_empty() && *t != "application/json");
    let media_type = match (field(object, "mediaType"), header_type) {
        (Some(body), Some(header)) if body != header => {
            return Err(OciError::manifest_invalid(format!(
                "mediaType {body} differs from Content-Type {header}"
            )))
        }
        (Some(body), _) => body.to_owned(),
        (None, Some(header)) => header.to_owned(),
        (None, None) if object.contains_key("manifests") => OCI_INDEX.to_owned(),
        (None, None) => OCI_MANIFEST.to_owned(),
    };
    let mut metadata = Metadata {
        media_type: media_type.clone(),
        digest: digest.to_string(),
        size: bytes.len() as i64,
        artifact_type: field(object, "artifactType").unwrap_or("").to_owned(),
        annotations: object
            .get("annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        ..Metadata::default()
    };
    if let Some(subject) = object.get("subject") {
        metadata.subject = descriptor(subject, "subject")?.0.to_string();
    }
    let mut references = Vec::new();
    if is_index(&media_type) {
        let entries = object
            .get("manifests")
            .and_then(Value::as_array)
            .ok_or_else(|| OciError::manifest_invalid("an index needs a manifests list"))?;
        for entry in entries {
            let (child, size, entry) = descriptor(entry, "a manifests entry")?;
            let platform = entry
                .get("platform")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let attestation = entry
                .get("annotations")
                .and_then(Value::as_object)
                .and_then(|a| field(a, "vnd.docker.reference.type"))
                == Some("attestation-manifest");
            metadata.platforms.push(Platform {
                digest: child.to_string(),
                os: field(&platform, "os").unwrap_or("").to_owned(),
                architecture: field(&platform, "architecture").unwrap_or("").to_owned(),
                variant: field(&platform, "variant").unwrap_or("").to_owned(),
                size,
                attestation,
            });
            references.push(child);
        }
    } else if media_type == DOCKER_MANIFEST || media_type == OCI_MANIFEST {
        let config = object
            .get("config")
            .ok_or_else(|| OciError::manifest_invalid("an image manifest needs a config"))?;
        let (config, config_size, config_object) = descriptor(config, "the config")?;
        if metadata.artifact_type.is_empty() && media_type == OCI_MANIFEST {
            // An artifact without artifactType is typed by its config (OCI 1.1).
            let config_type = field(&config_object, "mediaType").unwrap_or("");
            if config_type != "application/vnd.oci.image.config.v1+json" {
                metadata.artifact_type = config_type.to_owned();
            }
        }
        references.push(config);
        metadata.content_size = config_size;
        let layers = object
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| OciError::manifest_invalid("an image manifest needs a layers list"))?;
        for layer in layers {
            let (layer, size, layer_object) = descriptor(layer, "a layer")?;
            metadata.content_size += size;
            metadata.layer_count += 1;
            let layer_type = field(&layer_object, "mediaType").unwrap_or("");
            let foreign = layer_type.contains("foreign") || layer_type.contains("nondistributable");
            if !foreign {
                references.push(layer);
            }
        }
    } else {
        return Err(OciError::manifest_invalid(format!(
            "unsupported manifest media type {media_type}"
        )));
    }
    references.dedup();
    Ok(Manifest {
        metadata,
        references,
    })
}

/// Whether a client sending `accept` takes a manifest of `media_type`. Docker types are
/// always served; OCI types only to clients that name them (or `*/*`), as the reference
/// registry does.
pub fn accepted(accept: &[String], media_type: &str) -> bool {
    if accept.is_empty() || !(media_type == OCI_INDEX || media_type == OCI_MANIFEST) {
        return true;
    }
    accept.iter().any(|a| {
        let a = a.split(';').next().unwrap_or(a).trim();
        a == media_type || a == "*/*" || a == "application/*"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest::of_hex(&"0".repeat(64))
    }

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn image_manifests_reference_config_and_layers() {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d('a'), "size": 2},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d('b'), "size": 10},
                {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": d('c'), "size": 5}
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d('e'), "size": 1}
        });
        let m = parse(body.to_string().as_bytes(), &digest(), None).unwrap();
        let refs: Vec<String> = m.references.iter().map(|r| r.to_string()).collect();
        assert_eq!(refs, [d('a'), d('b')]);
        assert_eq!(m.metadata.subject, d('e'));
        assert_eq!(m.metadata.content_size, 17);
        assert_eq!(m.metadata.artifact_type, "");
    }

    #[test]
    fn indexes_reference_their_manifests_and_note_attestations() {
        let body = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": d('a'), "size": 3, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {"mediaType": OCI_MANIFEST, "digest": d('b'), "size": 4, "platform": {"os": "unknown", "architecture": "unknown"},
                 "annotations": {"vnd.docker.reference.type": "attestation-manifest"}}
            ]
        });
        let m = parse(body.to_string().as_bytes(), &digest(), None).unwrap();
        assert_eq!(m.metadata.media_type, OCI_INDEX);
        assert_eq!(m.references.len(), 2);
        assert_eq!(m.metadata.platforms[0].variant, "v8");
        assert!(m.metadata.platforms[1].attestation);
    }

    #[test]
    fn malformed_manifests_are_refused_with_manifest_invalid() {
        for body in [
            "not json",
            "[]",
            r#"{"schemaVersion": 1}"#,
            r#"{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}"#,
            r#"{"schemaVersion": 2, "manifests": [{"digest": "sha256:zz"}]}"#,
        ] {
            let e = parse(body.as_bytes(), &digest(), None).unwrap_err();
            assert_eq!(e.code, "MANIFEST_INVALID", "{body}");
        }
        let e = parse(
            br#"{"schemaVersion": 2, "mediaType": "a/b", "manifests": []}"#,
            &digest(),
            Some(OCI_INDEX),
        )
        .unwrap_err();
        assert_eq!(e.code, "MANIFEST_INVALID");
    }

    #[test]
    fn oci_types_go_only_to_clients_that_accept_them() {
        assert!(accepted(&[], OCI_INDEX));
        assert!(accepted(&[DOCKER_MANIFEST.into()], DOCKER_LIST));
        assert!(!accepted(&[DOCKER_MANIFEST.into()], OCI_INDEX));
        assert!(accepted(&[format!("{OCI_INDEX}; q=0.5")], OCI_INDEX));
    }
}

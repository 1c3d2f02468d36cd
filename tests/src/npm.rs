//! What the npm tests send, shaped as npm builds it: the publish document (manifest, digests
//! and the base64 tarball in `_attachments`), package ids as they appear in URLs, and the
//! digests npm checks (`dist.integrity`, `dist.shasum`).

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::Digest as _;

/// The format's type name.
pub const TYPE: &str = "npm";

/// The registry base path of `owner` (what `.npmrc` names as `registry=`, without the root).
pub fn registry_path(owner: &str) -> String {
    format!("/api/packages/{owner}/npm")
}

/// A package name as npm puts it in a URL: a scoped name's `/` as lowercase `%2f`.
pub fn id(name: &str) -> String {
    name.replacen('/', "%2f", 1)
}

/// The file name npm gives a package's tarball in `_attachments`.
pub fn attachment_name(name: &str, version: &str) -> String {
    format!("{name}-{version}.tgz")
}

/// Deterministic bytes standing in for a tarball (the registry does not unpack them).
pub fn tarball(seed: &str, len: usize) -> Vec<u8> {
    let mut state = sha2::Sha256::digest(seed.as_bytes()).to_vec();
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state = sha2::Sha256::digest(&state).to_vec();
        out.extend_from_slice(&state);
    }
    out.truncate(len);
    out
}

/// Standard base64, as in `_attachments` and `dist.integrity`.
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `dist.integrity`: `sha512-` and the base64 SHA-512.
pub fn integrity(bytes: &[u8]) -> String {
    format!("sha512-{}", base64(&sha2::Sha512::digest(bytes)))
}

/// `dist.shasum`: the lowercase hex SHA-1.
pub fn shasum(bytes: &[u8]) -> String {
    hex::encode(sha1(bytes))
}

/// The document `npm publish` sends for one new version of `name`: the package, its manifest
/// (with a dependency and a readme) and the tarball as an attachment, tagged `latest`.
pub fn publish_doc(name: &str, version: &str, tarball: &[u8]) -> Value {
    let file = attachment_name(name, version);
    json!({
        "_id": name,
        "name": name,
        "description": "d",
        "dist-tags": { "latest": version },
        "versions": {
            version: {
                "name": name,
                "version": version,
                "description": "d",
                "main": "index.js",
                "license": "MIT",
                "readme": format!("# {name}\n\nThe readme of {name}."),
                "dependencies": { "a": "^1" },
                "_id": format!("{name}@{version}"),
                "dist": {
                    "integrity": integrity(tarball),
                    "shasum": shasum(tarball),
                    "tarball": format!("http://whatever/{name}/-/{file}"),
                },
            }
        },
        "access": null,
        "_attachments": {
            file: {
                "content_type": "application/octet-stream",
                "data": base64(tarball),
                "length": tarball.len(),
            }
        }
    })
}

/// [`publish_doc`] with the dist-tags replaced by `tags` (each naming `version`).
pub fn publish_doc_tagged(name: &str, version: &str, tarball: &[u8], tags: &[&str]) -> Value {
    let mut doc = publish_doc(name, version, tarball);
    let map: serde_json::Map<String, Value> = tags
        .iter()
        .map(|t| ((*t).to_owned(), Value::String(version.to_owned())))
        .collect();
    doc["dist-tags"] = Value::Object(map);
    doc
}

/// SHA-1 (FIPS 180-4), which npm's `shasum` still uses; no crate of the workspace has it.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_known_answers() {
        assert_eq!(shasum(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(shasum(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            shasum(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            shasum(&vec![b'a'; 1_000_000]),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f"
        );
    }

    #[test]
    fn ids() {
        assert_eq!(id("@scope/name"), "@scope%2fname");
        assert_eq!(id("plain"), "plain");
    }
}

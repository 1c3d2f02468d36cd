//! Digests carried in HTTP headers: the ones a client sends to have its upload verified
//! (`X-Checksum-Sha256`/`-Sha1`/`-Md5`, RFC 9530 `Content-Digest`/`Repr-Digest`, and
//! `Content-MD5`), and the `Repr-Digest` a download answers with (`Want-Repr-Digest` says
//! which algorithms a client prefers).
//!
//! RFC 9530 fields are Structured Field dictionaries (RFC 8941) whose members are byte
//! sequences (`sha-256=:base64:`) or, in `Want-*`, integers. Only those member types are
//! accepted; parameters are ignored.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use crate::digest::Digests;

/// Base64 as RFC 8941 byte sequences use it; padding is accepted with or without.
const SF_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A digest algorithm the registry computes for every blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// The stored hex digest of this algorithm.
    pub fn hex_of(self, digests: &Digests) -> &str {
        match self {
            Algorithm::Md5 => &digests.md5,
            Algorithm::Sha1 => &digests.sha1,
            Algorithm::Sha256 => &digests.sha256,
            Algorithm::Sha512 => &digests.sha512,
        }
    }

    fn byte_len(self) -> usize {
        match self {
            Algorithm::Md5 => 16,
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }

    /// The RFC 9530 key of the algorithm, for those the registry accepts there.
    fn rfc9530_key(self) -> Option<&'static str> {
        match self {
            Algorithm::Sha256 => Some("sha-256"),
            Algorithm::Sha512 => Some("sha-512"),
            Algorithm::Md5 | Algorithm::Sha1 => None,
        }
    }

    fn from_rfc9530_key(key: &str) -> Option<Algorithm> {
        match key {
            "sha-256" => Some(Algorithm::Sha256),
            "sha-512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// How a header writes a digest, so a message can show it the way the client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Hex,
    /// A Structured Field byte sequence, `:base64:`.
    ByteSequence,
    Base64,
}

/// One digest a client claims for its upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDigest {
    /// The header it came in, as the registry names it.
    pub header: &'static str,
    pub algorithm: Algorithm,
    bytes: Vec<u8>,
    encoding: Encoding,
}

/// A claimed digest that the received content does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{header}{label} does not match the content: sent {sent}, received content has {actual}")]
pub struct DigestMismatch {
    pub header: &'static str,
    /// ` sha-256` and the like for RFC 9530 headers, empty for the others.
    label: String,
    pub sent: String,
    pub actual: String,
}

/// A digest header that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {header} header: {reason}")]
pub struct MalformedDigestHeader {
    pub header: &'static str,
    pub reason: String,
}

impl ClaimedDigest {
    /// Compares the claim with the digests of the content that arrived.
    pub fn verify(&self, digests: &Digests) -> Result<(), DigestMismatch> {
        let actual_hex = self.algorithm.hex_of(digests);
        let actual = hex::decode(actual_hex).unwrap_or_default();
        if actual == self.bytes {
            return Ok(());
        }
        let label = match (self.encoding, self.algorithm.rfc9530_key()) {
            (Encoding::ByteSequence, Some(key)) => format!(" {key}"),
            _ => String::new(),
        };
        Err(DigestMismatch {
            header: self.header,
            label,
            sent: self.render(&self.bytes),
            actual: self.render(&actual),
        })
    }

    fn render(&self, bytes: &[u8]) -> String {
        match self.encoding {
            Encoding::Hex => hex::encode(bytes),
            Encoding::ByteSequence => format!(":{}:", SF_BASE64.encode(bytes)),
            Encoding::Base64 => SF_BASE64.encode(bytes),
        }
    }
}

/// The request headers that carry digests of an upload, with the algorithm of the hex ones.
const HEX_HEADERS: [(&str, Algorithm); 3] = [
    ("X-Checksum-Sha256", Algorithm::Sha256),
    ("X-Checksum-Sha1", Algorithm::Sha1),
    ("X-Checksum-Md5", Algorithm::Md5),
];
const RFC9530_HEADERS: [&str; 2] = ["Content-Digest", "Repr-Digest"];
const CONTENT_MD5: &str = "Content-MD5";

/// Reads every digest an upload's headers claim. `get` answers a header's value by its
/// (case-insensitive) name, `None` when absent, `Some(Err(()))` when it is not visible ASCII.
/// Uploads carry no content coding, so `Content-Digest` and `Repr-Digest` both describe the
/// bytes of the body.
pub fn claimed_digests<'a>(
    get: impl Fn(&str) -> Option<Result<&'a str, ()>>,
) -> Result<Vec<ClaimedDigest>, MalformedDigestHeader> {
    let mut claims = Vec::new();
    let text = |header: &'static str| -> Result<Option<&'a str>, MalformedDigestHeader> {
        get(header)
            .transpose()
            .map_err(|()| malformed(header, "not ASCII"))
    };
    for (header, algorithm) in HEX_HEADERS {
        if let Some(value) = text(header)? {
            let value = value.trim();
            let bytes = hex::decode(value)
                .ok()
                .filter(|b| b.len() == algorithm.byte_len())
                .ok_or_else(|| {
                    malformed(
                        header,
                        format!("expected {} hex digits", algorithm.byte_len() * 2),
                    )
                })?;
            claims.push(ClaimedDigest {
                header,
                algorithm,
                bytes,
                encoding: Encoding::Hex,
            });
        }
    }
    for header in RFC9530_HEADERS {
        let Some(value) = text(header)? else {
            continue;
        };
        let mut known = 0;
        for member in dictionary(header, value)? {
            let (key, item) = member;
            let Some(algorithm) = Algorithm::from_rfc9530_key(key) else {
                // RFC 9530 lets a recipient ignore algorithms it does not support.
                continue;
            };
            let Item::Bytes(bytes) = item else {
                return Err(malformed(header, format!("{key} is not a byte sequence")));
            };
            if bytes.len() != algorithm.byte_len() {
                return Err(malformed(
                    header,
                    format!("{key} must be {} bytes", algorithm.byte_len()),
                ));
            }
            known += 1;
            claims.push(ClaimedDigest {
                header,
                algorithm,
                bytes,
                encoding: Encoding::ByteSequence,
            });
        }
        if known == 0 {
            // A digest nobody checks would give the client false assurance.
            return Err(malformed(header, "no sha-256 or sha-512 digest"));
        }
    }
    if let Some(value) = text(CONTENT_MD5)? {
        let bytes = SF_BASE64
            .decode(value.trim())
            .ok()
            .filter(|b| b.len() == 16)
            .ok_or_else(|| malformed(CONTENT_MD5, "expected the base64 of 16 bytes"))?;
        claims.push(ClaimedDigest {
            header: CONTENT_MD5,
            algorithm: Algorithm::Md5,
            bytes,
            encoding: Encoding::Base64,
        });
    }
    Ok(claims)
}

/// Which digests a download's `Repr-Digest` carries: the algorithms `Want-Repr-Digest` asks
/// for with a positive weight, heaviest first; both SHA-256 and SHA-512 when the header is
/// absent, unreadable or asks for nothing the registry has (RFC 9530 lets a sender choose
/// then).
pub fn wanted_repr_digests(want: Option<&str>) -> Vec<Algorithm> {
    const DEFAULT: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];
    let Some(want) = want else {
        return DEFAULT.to_vec();
    };
    let Ok(members) = dictionary("Want-Repr-Digest", want) else {
        return DEFAULT.to_vec();
    };
    let mut weighted: Vec<(i64, Algorithm)> = members
        .into_iter()
        .filter_map(|(key, item)| match item {
            Item::Integer(w) if w > 0 => Algorithm::from_rfc9530_key(key).map(|a| (w, a)),
            _ => None,
        })
        .collect();
    if weighted.is_empty() {
        return DEFAULT.to_vec();
    }
    weighted.sort_by_key(|w| std::cmp::Reverse(w.0));
    let mut out: Vec<Algorithm> = Vec::new();
    for (_, a) in weighted {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// The `Repr-Digest` value for content with these hex digests, one member per algorithm.
/// Sent on every download, so it is built in one allocation.
pub fn repr_digest_value(algorithms: &[Algorithm], sha256_hex: &str, sha512_hex: &str) -> String {
    // Room for both members: keys, delimiters and 44 + 88 base64 characters.
    let mut out = String::with_capacity(160);
    let mut raw = [0u8; 64];
    for a in algorithms {
        let (key, hex_digest) = match a {
            Algorithm::Sha256 => ("sha-256", sha256_hex),
            Algorithm::Sha512 => ("sha-512", sha512_hex),
            Algorithm::Md5 | Algorithm::Sha1 => continue,
        };
        let Some(bytes) = raw.get_mut(..hex_digest.len() / 2) else {
            continue;
        };
        if hex::decode_to_slice(hex_digest, bytes).is_err() {
            continue;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(key);
        out.push_str("=:");
        SF_BASE64.encode_string(&*bytes, &mut out);
        out.push(':');
    }
    out
}

fn malformed(header: &'static str, reason: impl Into<String>) -> MalformedDigestHeader {
    MalformedDigestHeader {
        header,
        reason: reason.into(),
    }
}

/// A dictionary member's value, of the kinds digest fields use.
#[derive(Debug, PartialEq, Eq)]
enum Item {
    Bytes(Vec<u8>),
    Integer(i64),
}

/// Parses a Structured Field dictionary whose values are byte sequences or integers.
fn dictionary<'v>(
    header: &'static str,
    value: &'v str,
) -> Result<Vec<(&'v str, Item)>, MalformedDigestHeader> {
    let mut members = Vec::new();
    for raw in value.split(',') {
        let raw = raw.trim_matches([' ', '\t']);
        if raw.is_empty() {
            return Err(malformed(header, "empty dictionary member"));
        }
        // Parameters (`;name=value`) carry nothing the registry uses.
        let bare = raw.split(';').next().unwrap_or_default();
        let (key, item) = bare
            .split_once('=')
            .ok_or_else(|| malformed(header, format!("member {raw:?} has no value")))?;
        if !is_key(key) {
            return Err(malformed(header, format!("invalid key {key:?}")));
        }
        let item = if let Some(b64) = item.strip_prefix(':').and_then(|s| s.strip_suffix(':')) {
            Item::Bytes(
                SF_BASE64
                    .decode(b64)
                    .map_err(|_| malformed(header, format!("{key} is not valid base64")))?,
            )
        } else if !item.is_empty()
            && item.len() <= 16
            && item
                .trim_start_matches('-')
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            Item::Integer(
                item.parse()
                    .map_err(|_| malformed(header, format!("{key} is not an integer")))?,
            )
        } else {
            return Err(malformed(
                header,
                format!("{key} is neither a byte sequence nor an integer"),
            ));
        };
        members.push((key, item));
    }
    Ok(members)
}

/// An RFC 8941 key: a lowercase letter or `*`, then lowercase letters, digits, `_-.*`.
fn is_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'*'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::MultiHasher;

    fn digests(data: &[u8]) -> Digests {
        let mut h = MultiHasher::new();
        h.update(data);
        h.finalize()
    }

    fn claims(pairs: &[(&str, &str)]) -> Result<Vec<ClaimedDigest>, MalformedDigestHeader> {
        claimed_digests(|name| {
            pairs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| Ok(*v))
        })
    }

    const TEST_SHA256_B64: &str = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";

    #[test]
    fn every_form_verifies_the_right_digest() {
        let d = digests(b"test");
        let forms = [
            ("X-Checksum-Sha256", d.sha256.to_uppercase()),
            ("X-Checksum-Sha1", d.sha1.clone()),
            ("X-Checksum-Md5", d.md5.clone()),
            ("Content-Digest", format!("sha-256=:{TEST_SHA256_B64}:")),
            (
                "Repr-Digest",
                format!("unixsum=:AAA=:, sha-256=:{}:;p=1", TEST_SHA256_B64),
            ),
            ("Content-MD5", "CY9rzUYh03PK3k6DJie09g==".to_owned()),
        ];
        for (name, value) in forms {
            let c = claims(&[(name, &value)]).unwrap();
            assert_eq!(c.len(), 1, "{name}");
            c[0].verify(&d).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn mismatches_name_the_header_and_both_digests() {
        let d = digests(b"test");
        let other = digests(b"other");
        let c = claims(&[("X-Checksum-Sha256", &other.sha256)]).unwrap();
        let e = c[0].verify(&d).unwrap_err().to_string();
        assert!(e.starts_with("X-Checksum-Sha256 does not match"), "{e}");
        assert!(e.contains(&other.sha256) && e.contains(&d.sha256), "{e}");
        let c = claims(&[("Content-Digest", "sha-512=:AAAA:")]);
        assert!(c.is_err(), "a short sha-512 is malformed");
        let c = claims(&[("Repr-Digest", &format!("sha-256=:{TEST_SHA256_B64}:"))]).unwrap();
        let e = c[0].verify(&other).unwrap_err().to_string();
        assert!(e.starts_with("Repr-Digest sha-256 does not match"), "{e}");
        assert!(e.contains(&format!(":{TEST_SHA256_B64}:")), "{e}");
    }

    #[test]
    fn malformed_headers_are_refused() {
        for (name, value) in [
            ("X-Checksum-Sha256", "xyz"),
            ("X-Checksum-Sha1", "00"),
            ("X-Checksum-Md5", ""),
            ("Content-Digest", "sha-256=abc"),
            ("Content-Digest", "sha-256=:!!!:"),
            ("Content-Digest", "unixsum=:AAA=:"),
            ("Repr-Digest", "SHA-256=:AAA=:"),
            ("Repr-Digest", "sha-256=:AAA=:,"),
            ("Repr-Digest", "sha-256=5"),
            ("Content-MD5", "abc"),
        ] {
            let e = claims(&[(name, value)]).unwrap_err();
            assert_eq!(e.header, name, "{value}");
        }
        let e = claimed_digests(|n| (n == "X-Checksum-Md5").then_some(Err(()))).unwrap_err();
        assert_eq!(e.header, "X-Checksum-Md5");
    }

    #[test]
    fn want_repr_digest_is_honoured() {
        use Algorithm::*;
        assert_eq!(wanted_repr_digests(None), vec![Sha256, Sha512]);
        assert_eq!(wanted_repr_digests(Some("sha-512=3")), vec![Sha512]);
        assert_eq!(
            wanted_repr_digests(Some("sha-256=1, sha-512=9")),
            vec![Sha512, Sha256]
        );
        assert_eq!(
            wanted_repr_digests(Some("sha-256=0, sha-512=2")),
            vec![Sha512]
        );
        assert_eq!(wanted_repr_digests(Some("md5=10")), vec![Sha256, Sha512]);
        assert_eq!(wanted_repr_digests(Some("%%%")), vec![Sha256, Sha512]);
        let d = digests(b"test");
        assert_eq!(
            repr_digest_value(&[Sha256], &d.sha256, &d.sha512),
            format!("sha-256=:{TEST_SHA256_B64}:")
        );
        assert!(repr_digest_value(&[Sha256, Sha512], &d.sha256, &d.sha512).contains(", sha-512=:"));
        // Both members in the order asked, each the base64 of the raw digest.
        let both = repr_digest_value(&[Sha512, Sha256], &d.sha256, &d.sha512);
        let sha512 = SF_BASE64.encode(hex::decode(&d.sha512).unwrap());
        assert_eq!(
            both,
            format!("sha-512=:{sha512}:, sha-256=:{TEST_SHA256_B64}:")
        );
        // A digest that is not hex of the right length is left out, not sent garbled.
        assert_eq!(
            repr_digest_value(&[Sha256, Sha512], "zz", &d.sha512),
            format!("sha-512=:{sha512}:")
        );
        let too_long = "ab".repeat(65);
        assert_eq!(repr_digest_value(&[Sha512], &d.sha256, &too_long), "");
        assert_eq!(repr_digest_value(&[Sha256], "abc", &d.sha512), "");
    }
}

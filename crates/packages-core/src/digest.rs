//! The four content digests every stored blob carries.

use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// Lowercase hex digests of a blob's content, and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Digests {
    pub size: i64,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
}

impl Digests {
    /// True when `s` looks like a SHA-256 hex digest (64 lowercase hex characters); blob keys
    /// are checked with it before they become paths.
    pub fn is_sha256_hex(s: &str) -> bool {
        s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
}

/// Computes MD5, SHA-1, SHA-256 and SHA-512 over a stream in one pass.
#[derive(Clone, Default)]
pub struct MultiHasher {
    md5: Md5,
    sha1: Sha1,
    sha256: Sha256,
    sha512: Sha512,
    size: u64,
}

impl MultiHasher {
    /// A hasher that has seen no bytes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha1.update(data);
        self.sha256.update(data);
        self.sha512.update(data);
        self.size += data.len() as u64;
    }

    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digests of everything fed so far.
    pub fn finalize(self) -> Digests {
        Digests {
            size: self.size as i64,
            md5: hex::encode(self.md5.finalize()),
            sha1: hex::encode(self.sha1.finalize()),
            sha256: hex::encode(self.sha256.finalize()),
            sha512: hex::encode(self.sha512.finalize()),
        }
    }
}

/// One of the four digests while it is being computed.
#[derive(Clone)]
enum OneHasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl OneHasher {
    fn update(&mut self, data: &[u8]) {
        match self {
            OneHasher::Md5(h) => h.update(data),
            OneHasher::Sha1(h) => h.update(data),
            OneHasher::Sha256(h) => h.update(data),
            OneHasher::Sha512(h) => h.update(data),
        }
    }

    fn finalize(self) -> OneDigest {
        match self {
            OneHasher::Md5(h) => OneDigest::Md5(hex::encode(h.finalize())),
            OneHasher::Sha1(h) => OneDigest::Sha1(hex::encode(h.finalize())),
            OneHasher::Sha256(h) => OneDigest::Sha256(hex::encode(h.finalize())),
            OneHasher::Sha512(h) => OneDigest::Sha512(hex::encode(h.finalize())),
        }
    }
}

/// One finished digest, hex.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OneDigest {
    Md5(String),
    Sha1(String),
    Sha256(String),
    Sha512(String),
}

/// Which digests (`md5`, `sha1`, `sha256`, `sha512`) each of `lanes` threads computes (1
/// to 4; more counts as 4). MD5 and SHA-512 are the slow ones (about half the speed of SHA-1
/// and SHA-256 where the CPU accelerates those), so they get lanes of their own first.
pub fn lane_plan(lanes: usize) -> Vec<Vec<&'static str>> {
    match lanes {
        0 | 1 => vec![vec!["md5", "sha1", "sha256", "sha512"]],
        2 => vec![vec!["md5", "sha256"], vec!["sha1", "sha512"]],
        3 => vec![vec!["md5"], vec!["sha512"], vec!["sha1", "sha256"]],
        _ => vec![vec!["md5"], vec!["sha1"], vec!["sha256"], vec!["sha512"]],
    }
}

/// Some of the four digests, computed together by one thread. [`DigestLane::split`] shares
/// the four out over as many threads as the machine gives; [`LaneDigests::join`] puts the
/// results back together.
#[derive(Clone)]
pub struct DigestLane(Vec<OneHasher>);

/// What a [`DigestLane`] computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneDigests(Vec<OneDigest>);

impl DigestLane {
    /// The four digests in `lanes` groups (1 to 4; more counts as 4) of about equal work,
    /// as [`lane_plan`] lays them out.
    pub fn split(lanes: usize) -> Vec<DigestLane> {
        lane_plan(lanes)
            .into_iter()
            .map(|names| {
                DigestLane(
                    names
                        .iter()
                        .map(|name| match *name {
                            "md5" => OneHasher::Md5(Md5::new()),
                            "sha1" => OneHasher::Sha1(Sha1::new()),
                            "sha256" => OneHasher::Sha256(Sha256::new()),
                            _ => OneHasher::Sha512(Sha512::new()),
                        })
                        .collect(),
                )
            })
            .collect()
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, data: &[u8]) {
        for hasher in &mut self.0 {
            hasher.update(data);
        }
    }

    /// The digests of everything fed so far.
    pub fn finalize(self) -> LaneDigests {
        LaneDigests(self.0.into_iter().map(OneHasher::finalize).collect())
    }
}

impl LaneDigests {
    /// Joins the lanes of one [`DigestLane::split`] into the full set; `None` unless each
    /// digest is there exactly once.
    pub fn join(lanes: Vec<LaneDigests>, size: u64) -> Option<Digests> {
        let (mut md5, mut sha1, mut sha256, mut sha512) = (None, None, None, None);
        for digest in lanes.into_iter().flat_map(|l| l.0) {
            let slot = match digest {
                OneDigest::Md5(d) => (&mut md5, d),
                OneDigest::Sha1(d) => (&mut sha1, d),
                OneDigest::Sha256(d) => (&mut sha256, d),
                OneDigest::Sha512(d) => (&mut sha512, d),
            };
            if slot.0.replace(slot.1).is_some() {
                return None;
            }
        }
        Some(Digests {
            size: size as i64,
            md5: md5?,
            sha1: sha1?,
            sha256: sha256?,
            sha512: sha512?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digests_of(parts: &[&[u8]]) -> Digests {
        let mut h = MultiHasher::new();
        for p in parts {
            h.update(p);
        }
        h.finalize()
    }

    #[test]
    fn empty_input_vectors() {
        let d = digests_of(&[]);
        assert_eq!(d.size, 0);
        assert_eq!(d.md5, "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(d.sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            d.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            d.sha512,
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
        );
    }

    #[test]
    fn test_vectors_and_split_input() {
        for d in [digests_of(&[b"test"]), digests_of(&[b"te", b"", b"st"])] {
            assert_eq!(d.size, 4);
            assert_eq!(d.md5, "098f6bcd4621d373cade4e832627b4f6");
            assert_eq!(d.sha1, "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3");
            assert_eq!(
                d.sha256,
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            );
        }
        let g = digests_of(&[b"git", b"ea"]);
        assert_eq!(g.md5, "e3bef03c5f3b7f6b3ab3e3053ed71e9c");
        assert_eq!(
            g.sha256,
            "6ccce4863b70f258d691f59609d31b4502e1ba5199942d3bc5d35d17a4ce771d"
        );
    }

    #[test]
    fn every_split_joins_to_the_same_digests() {
        for lanes in 0..=6 {
            let mut split = DigestLane::split(lanes);
            assert_eq!(split.len(), lanes.clamp(1, 4), "{lanes} lanes");
            for part in [&b"te"[..], b"st"] {
                for lane in &mut split {
                    lane.update(part);
                }
            }
            // In any order.
            let mut done: Vec<LaneDigests> = split.into_iter().map(DigestLane::finalize).collect();
            done.reverse();
            assert_eq!(LaneDigests::join(done, 4).unwrap(), digests_of(&[b"test"]));
        }
        // A digest missing or twice is no set.
        let two = DigestLane::split(2);
        let once: Vec<LaneDigests> = two.into_iter().take(1).map(DigestLane::finalize).collect();
        assert!(LaneDigests::join(once, 0).is_none());
        let twice: Vec<LaneDigests> = [DigestLane::split(1), DigestLane::split(1)]
            .into_iter()
            .flatten()
            .map(DigestLane::finalize)
            .collect();
        assert!(LaneDigests::join(twice, 0).is_none());
    }

    #[test]
    fn sha256_hex_check() {
        assert!(Digests::is_sha256_hex(&digests_of(&[]).sha256));
        assert!(!Digests::is_sha256_hex("../etc/passwd"));
        assert!(!Digests::is_sha256_hex(&"A".repeat(64)));
    }
}

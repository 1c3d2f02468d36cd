//! The four content digests every stored blob carries.

use md5::Md5;
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

/// The half of the digests that one thread computes when hashing is split over two cores:
/// MD5 with SHA-256 on one side, SHA-1 with SHA-512 on the other, which balances the work.
pub enum HalfHasher {
    Md5Sha256(Md5, Sha256),
    Sha1Sha512(Sha1, Sha512),
}

/// The output of a [`HalfHasher`].
pub enum HalfDigests {
    Md5Sha256(String, String),
    Sha1Sha512(String, String),
}

impl HalfHasher {
    /// The two halves that together give all four digests.
    pub fn pair() -> (HalfHasher, HalfHasher) {
        (
            HalfHasher::Md5Sha256(Md5::new(), Sha256::new()),
            HalfHasher::Sha1Sha512(Sha1::new(), Sha512::new()),
        )
    }

    /// Feeds the next bytes of the stream.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            HalfHasher::Md5Sha256(a, b) => {
                a.update(data);
                b.update(data);
            }
            HalfHasher::Sha1Sha512(a, b) => {
                a.update(data);
                b.update(data);
            }
        }
    }

    /// The digests of everything fed so far.
    pub fn finalize(self) -> HalfDigests {
        match self {
            HalfHasher::Md5Sha256(a, b) => {
                HalfDigests::Md5Sha256(hex::encode(a.finalize()), hex::encode(b.finalize()))
            }
            HalfHasher::Sha1Sha512(a, b) => {
                HalfDigests::Sha1Sha512(hex::encode(a.finalize()), hex::encode(b.finalize()))
            }
        }
    }
}

impl HalfDigests {
    /// Joins both halves into the full set; `None` if both halves are the same kind.
    pub fn join(a: HalfDigests, b: HalfDigests, size: u64) -> Option<Digests> {
        let (md5, sha256, sha1, sha512) = match (a, b) {
            (HalfDigests::Md5Sha256(m, s2), HalfDigests::Sha1Sha512(s1, s5))
            | (HalfDigests::Sha1Sha512(s1, s5), HalfDigests::Md5Sha256(m, s2)) => (m, s2, s1, s5),
            _ => return None,
        };
        Some(Digests {
            size: size as i64,
            md5,
            sha1,
            sha256,
            sha512,
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
    fn halves_join_to_the_same_digests() {
        let (mut a, mut b) = HalfHasher::pair();
        for part in [&b"te"[..], b"st"] {
            a.update(part);
            b.update(part);
        }
        let joined = HalfDigests::join(b.finalize(), a.finalize(), 4).unwrap();
        assert_eq!(joined, digests_of(&[b"test"]));
    }

    #[test]
    fn sha256_hex_check() {
        assert!(Digests::is_sha256_hex(&digests_of(&[]).sha256));
        assert!(!Digests::is_sha256_hex("../etc/passwd"));
        assert!(!Digests::is_sha256_hex(&"A".repeat(64)));
    }
}

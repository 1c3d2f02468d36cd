//! Which version of a package is the newest, for the stable "latest" URLs.
//!
//! The rule: when every version of the package is a Semantic Versioning 2.0.0 version
//! (`1.2.3`, `2.0.0-rc.1`, `1.0.0+build`; no `v` prefix), the newest is the highest by SemVer
//! precedence, build metadata breaking ties by creation; otherwise it is the most recently
//! created one. A single version that does not parse switches the whole package to creation
//! order, so the answer never depends on which versions happen to parse.

use std::cmp::Ordering;

/// What the rule needs to know of a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionCandidate<'a> {
    pub version: &'a str,
    pub created_unix: i64,
    /// Breaks ties between versions created in the same second, by insertion order.
    pub id: i64,
}

/// The index of the newest of `candidates`, `None` when there are none.
pub fn newest_version(candidates: &[VersionCandidate<'_>]) -> Option<usize> {
    let by_creation = |a: &VersionCandidate<'_>, b: &VersionCandidate<'_>| {
        (a.created_unix, a.id).cmp(&(b.created_unix, b.id))
    };
    let parsed: Option<Vec<semver::Version>> = candidates
        .iter()
        .map(|c| semver::Version::parse(c.version).ok())
        .collect();
    let order = |i: &usize, j: &usize| -> Ordering {
        let (a, b) = (&candidates[*i], &candidates[*j]);
        match &parsed {
            Some(versions) => versions[*i]
                .cmp_precedence(&versions[*j])
                .then_with(|| by_creation(a, b)),
            None => by_creation(a, b),
        }
    };
    (0..candidates.len()).max_by(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn newest(versions: &[(&'static str, i64)]) -> &'static str {
        let c: Vec<_> = versions
            .iter()
            .enumerate()
            .map(|(i, (v, t))| VersionCandidate {
                version: v,
                created_unix: *t,
                id: i as i64,
            })
            .collect();
        versions[newest_version(&c).unwrap()].0
    }

    #[test]
    fn semver_precedence_when_every_version_parses() {
        assert_eq!(
            newest(&[("1.10.0", 1), ("1.9.0", 2), ("1.2.0", 3)]),
            "1.10.0"
        );
        assert_eq!(newest(&[("2.0.0", 1), ("2.0.0-rc.1", 2)]), "2.0.0");
        assert_eq!(
            newest(&[("1.0.0-alpha.10", 1), ("1.0.0-alpha.9", 2)]),
            "1.0.0-alpha.10"
        );
        // Build metadata does not count for precedence; the later upload wins.
        assert_eq!(newest(&[("1.0.0+b", 1), ("1.0.0+a", 2)]), "1.0.0+a");
    }

    #[test]
    fn creation_order_when_any_version_does_not_parse() {
        assert_eq!(
            newest(&[("1.10.0", 1), ("nightly", 2), ("1.9.0", 3)]),
            "1.9.0"
        );
        assert_eq!(newest(&[("v2", 5), ("v10", 4)]), "v2");
        // Same second: the later row.
        assert_eq!(newest(&[("b", 7), ("a", 7)]), "a");
    }

    #[test]
    fn nothing_for_no_versions() {
        assert_eq!(newest_version(&[]), None);
    }
}

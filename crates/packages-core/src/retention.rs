//! Retention: which versions of a package a cleanup rule removes.
//!
//! A rule keeps the newest `keep_count` versions of each package, then any version whose
//! name matches `keep_pattern`, then any created after `now - remove_days` days; of the
//! rest it removes those matching `remove_pattern` (all of them when it is empty). Patterns
//! are matched case-insensitively against the whole lower-case version, or against
//! `name/version` with `match_full_name`, as Forgejo's `(?i)\A…\z` wrapping does. Unlike
//! Forgejo, every version of a package is considered, not only a first page of them.

use regex_lite::{Regex, RegexBuilder};

/// Longest pattern accepted, in bytes (Forgejo stores them in a 255-character column).
pub const MAX_PATTERN_BYTES: usize = 255;
/// Largest `keep_count` accepted.
pub const MAX_KEEP_COUNT: i32 = 1_000_000;
/// Largest `remove_days` accepted (about a hundred years).
pub const MAX_REMOVE_DAYS: i32 = 36_500;

/// Compiled patterns may not grow past this many bytes of program.
const PATTERN_SIZE_LIMIT: usize = 1 << 20;

/// Why a rule's settings are refused; the text names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("{field} is not a valid regular expression: {reason}")]
    BadPattern { field: &'static str, reason: String },
    #[error("{field} must be at most {MAX_PATTERN_BYTES} bytes")]
    PatternTooLong { field: &'static str },
    #[error("keep_count must be between 0 and {MAX_KEEP_COUNT}")]
    KeepCount,
    #[error("remove_days must be between 0 and {MAX_REMOVE_DAYS}")]
    RemoveDays,
}

/// The settings of a rule, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSettings {
    pub keep_count: i32,
    pub keep_pattern: String,
    pub remove_days: i32,
    pub remove_pattern: String,
    pub match_full_name: bool,
}

/// One version of a package, as the rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionAge<'a> {
    pub lower_version: &'a str,
    pub created_unix: i64,
}

/// A rule ready to be applied: its settings checked and its patterns compiled.
#[derive(Debug, Clone)]
pub struct RetentionPolicy {
    keep_count: usize,
    keep: Option<Regex>,
    remove_days: i64,
    remove: Option<Regex>,
    match_full_name: bool,
}

/// Compiles a pattern anchored at both ends and case-insensitive; empty means none.
fn compile(field: &'static str, pattern: &str) -> Result<Option<Regex>, RuleError> {
    if pattern.is_empty() {
        return Ok(None);
    }
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(RuleError::PatternTooLong { field });
    }
    let build = |p: &str| {
        RegexBuilder::new(p)
            .size_limit(PATTERN_SIZE_LIMIT)
            .build()
            .map_err(|e| RuleError::BadPattern {
                field,
                reason: e.to_string(),
            })
    };
    // On its own first: a pattern such as `a)|(b` would otherwise close the group below.
    build(pattern)?;
    // In a group, so that every alternative is anchored at both ends.
    build(&format!(r"(?i)\A(?:{pattern})\z")).map(Some)
}

impl RetentionPolicy {
    /// Checks the settings and compiles the patterns.
    pub fn new(settings: &RuleSettings) -> Result<RetentionPolicy, RuleError> {
        if !(0..=MAX_KEEP_COUNT).contains(&settings.keep_count) {
            return Err(RuleError::KeepCount);
        }
        if !(0..=MAX_REMOVE_DAYS).contains(&settings.remove_days) {
            return Err(RuleError::RemoveDays);
        }
        Ok(RetentionPolicy {
            keep_count: settings.keep_count as usize,
            keep: compile("keep_pattern", &settings.keep_pattern)?,
            remove_days: i64::from(settings.remove_days),
            remove: compile("remove_pattern", &settings.remove_pattern)?,
            match_full_name: settings.match_full_name,
        })
    }

    /// The positions in `versions` (one package's, newest first) of the versions the rule
    /// removes at `now_unix`.
    pub fn removals(
        &self,
        lower_name: &str,
        versions: &[VersionAge<'_>],
        now_unix: i64,
    ) -> Vec<usize> {
        let cutoff = now_unix.saturating_sub(self.remove_days.saturating_mul(86_400));
        let mut full = String::new();
        versions
            .iter()
            .enumerate()
            .skip(self.keep_count)
            .filter(|(_, v)| {
                let subject = if self.match_full_name {
                    full.clear();
                    full.push_str(lower_name);
                    full.push('/');
                    full.push_str(v.lower_version);
                    full.as_str()
                } else {
                    v.lower_version
                };
                if self.keep.as_ref().is_some_and(|k| k.is_match(subject)) {
                    return false;
                }
                if v.created_unix > cutoff {
                    return false;
                }
                self.remove.as_ref().is_none_or(|r| r.is_match(subject))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const OLD: i64 = 1;

    fn policy(settings: RuleSettings) -> RetentionPolicy {
        RetentionPolicy::new(&settings).expect("valid rule")
    }

    /// Applies the rule to versions given newest first; returns the removed names.
    fn removed(p: &RetentionPolicy, name: &str, versions: &[(&str, i64)]) -> Vec<String> {
        let ages: Vec<VersionAge<'_>> = versions
            .iter()
            .map(|&(v, created_unix)| VersionAge {
                lower_version: v,
                created_unix,
            })
            .collect();
        p.removals(name, &ages, NOW)
            .into_iter()
            .map(|i| versions[i].0.to_owned())
            .collect()
    }

    // Forgejo's cleanup rule cases, in its order.

    #[test]
    fn keep_count_skips_the_newest() {
        let p = policy(RuleSettings {
            keep_count: 2,
            ..Default::default()
        });
        let versions = [
            ("keep", NOW),
            ("v1.0", NOW),
            ("test-3", OLD),
            ("test-4", OLD),
        ];
        assert_eq!(removed(&p, "package", &versions), ["test-3", "test-4"]);
        let all_kept = policy(RuleSettings {
            keep_count: 2000,
            ..Default::default()
        });
        assert!(removed(&all_kept, "package", &versions).is_empty());
    }

    #[test]
    fn keep_pattern_keeps_matches() {
        let p = policy(RuleSettings {
            keep_pattern: "k.+p".into(),
            ..Default::default()
        });
        assert_eq!(
            removed(&p, "package", &[("keep", NOW), ("v1.0", NOW)]),
            ["v1.0"]
        );
    }

    #[test]
    fn remove_days_keeps_recent_versions() {
        let p = policy(RuleSettings {
            remove_days: 60,
            ..Default::default()
        });
        assert_eq!(
            removed(&p, "package", &[("keep", NOW), ("v1.0", OLD)]),
            ["v1.0"]
        );
        // Exactly at the cutoff counts as old enough.
        assert_eq!(
            removed(&p, "package", &[("edge", NOW - 60 * 86_400)]),
            ["edge"]
        );
        assert!(removed(&p, "package", &[("young", NOW - 60 * 86_400 + 1)]).is_empty());
    }

    #[test]
    fn remove_pattern_limits_removal() {
        let p = policy(RuleSettings {
            remove_pattern: r"t[e]+st-\d+".into(),
            ..Default::default()
        });
        let versions = [("test", NOW), ("test-3", NOW), ("test-4", NOW)];
        assert_eq!(removed(&p, "package", &versions), ["test-3", "test-4"]);
    }

    #[test]
    fn match_full_name_matches_name_and_version() {
        let p = policy(RuleSettings {
            remove_pattern: "package/test|different/keep".into(),
            match_full_name: true,
            ..Default::default()
        });
        assert_eq!(
            removed(&p, "package", &[("keep", NOW), ("test", NOW)]),
            ["test"]
        );
    }

    #[test]
    fn mixed_settings() {
        let p = policy(RuleSettings {
            keep_count: 1,
            keep_pattern: "dummy".into(),
            remove_days: 7,
            remove_pattern: r"t[e]+st-\d+".into(),
            match_full_name: false,
        });
        let versions = [
            ("keep", NOW),
            ("dummy", OLD),
            ("test-3", NOW),
            ("test-4", OLD),
        ];
        assert_eq!(removed(&p, "package", &versions), ["test-4"]);
    }

    #[test]
    fn patterns_match_whole_values_case_insensitively() {
        let p = policy(RuleSettings {
            remove_pattern: "1|RC".into(),
            ..Default::default()
        });
        // "1" and "rc" match whole; "10" and "1-rc" do not match either alternative whole.
        assert_eq!(
            removed(
                &p,
                "p",
                &[("1", NOW), ("rc", NOW), ("10", NOW), ("1-rc", NOW)]
            ),
            ["1", "rc"]
        );
    }

    #[test]
    fn bad_settings_name_the_field() {
        let bad = |s: RuleSettings| RetentionPolicy::new(&s).expect_err("refused");
        let e = bad(RuleSettings {
            keep_pattern: "(".into(),
            ..Default::default()
        });
        assert!(
            matches!(
                &e,
                RuleError::BadPattern {
                    field: "keep_pattern",
                    ..
                }
            ),
            "{e}"
        );
        let e = bad(RuleSettings {
            remove_pattern: "a".repeat(MAX_PATTERN_BYTES + 1),
            ..Default::default()
        });
        assert_eq!(
            e,
            RuleError::PatternTooLong {
                field: "remove_pattern"
            }
        );
        // A pattern cannot close the wrapping group early to escape the anchors.
        assert!(matches!(
            bad(RuleSettings {
                remove_pattern: "a)|(b".into(),
                ..Default::default()
            }),
            RuleError::BadPattern {
                field: "remove_pattern",
                ..
            }
        ));
        assert_eq!(
            bad(RuleSettings {
                keep_count: -1,
                ..Default::default()
            }),
            RuleError::KeepCount
        );
        assert_eq!(
            bad(RuleSettings {
                remove_days: MAX_REMOVE_DAYS + 1,
                ..Default::default()
            }),
            RuleError::RemoveDays
        );
    }
}

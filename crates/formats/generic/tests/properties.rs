//! Property tests of the validation rules and size parsing: no input panics, accepted values
//! come back unchanged, and acceptance agrees with the written rules.

use format_generic::rules::{validate_upload, FileName, PackageName, PackageVersion};
use packages_core::{parse_size_limit, Limit, MAX_FIELD_BYTES};
use proptest::prelude::*;

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.')
}

fn file_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-+=:;.()[]{}~!@#$%^& ".contains(c)
}

proptest! {
    #[test]
    fn package_names_follow_the_rules(s in any::<String>()) {
        let expected = !s.is_empty()
            && s.len() <= MAX_FIELD_BYTES
            && s.chars().all(name_char)
            && s != ".."
            && (s.len() > 1 || s.chars().all(|c| c.is_ascii_alphanumeric()));
        let parsed = PackageName::parse(&s);
        prop_assert_eq!(parsed.is_ok(), expected);
        if let Ok(name) = parsed {
            prop_assert_eq!(name.as_str(), s.as_str());
        }
    }

    #[test]
    fn names_of_allowed_characters_are_accepted(s in "[A-Za-z0-9_+.-]{2,255}") {
        prop_assume!(s != "..");
        prop_assert_eq!(PackageName::parse(&s).map(|n| n.into_inner()), Ok(s));
    }

    #[test]
    fn file_names_follow_the_rules(s in any::<String>()) {
        let expected = !s.is_empty()
            && s.len() <= MAX_FIELD_BYTES
            && s.chars().all(file_char)
            && s.trim() == s
            && s != "."
            && s != "..";
        let parsed = FileName::parse(&s);
        prop_assert_eq!(parsed.is_ok(), expected);
        if let Ok(name) = parsed {
            prop_assert_eq!(name.as_str(), s.as_str());
        }
    }

    #[test]
    fn versions_follow_the_rules(s in any::<String>()) {
        let expected = !s.is_empty() && s.len() <= MAX_FIELD_BYTES && s.trim() == s;
        prop_assert_eq!(PackageVersion::parse(&s).is_ok(), expected);
    }

    #[test]
    fn upload_validation_never_panics(n in any::<String>(), v in any::<String>(), f in any::<String>()) {
        let _ = validate_upload(&n, &v, &f);
    }

    #[test]
    fn sizes_never_panic(s in any::<String>()) {
        let _ = parse_size_limit(&s);
    }

    #[test]
    fn plain_sizes_round_trip(n in 0u64..(1u64 << 53)) {
        prop_assert_eq!(parse_size_limit(&n.to_string()), Ok(Limit::AtMost(n)));
        prop_assert_eq!(parse_size_limit(&format!(" {n} B ")), Ok(Limit::AtMost(n)));
    }

    #[test]
    fn units_multiply(n in 0u64..1_000_000, unit in 0usize..4) {
        let (text, factor) = [("kB", 1000u64), ("KiB", 1024), ("MB", 1_000_000), ("MiB", 1 << 20)][unit];
        prop_assert_eq!(parse_size_limit(&format!("{n} {text}")), Ok(Limit::AtMost(n * factor)));
    }

    #[test]
    fn negative_numbers_mean_no_limit(n in 1u64..u64::MAX) {
        prop_assert_eq!(parse_size_limit(&format!("-{n}")), Ok(Limit::None));
    }
}

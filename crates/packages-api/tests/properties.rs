//! Property tests of the request parsers of the HTTP layer: the registry path, `Range`,
//! the `If-*` conditionals and `Content-Disposition`. No input panics, values round-trip,
//! and answers agree with RFC 9110.

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use packages_api::registry::path;
use packages_api::serve::{content_disposition, plan, Content, Plan};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use proptest::prelude::*;

const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn content(size: u64) -> Content<'static> {
    Content {
        file_name: "f.bin",
        size,
        sha256: SHA,
        sha512: "",
        modified_unix: 1_700_000_000,
    }
}

fn headers(pairs: &[(HeaderName, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(value) {
            map.append(name.clone(), v);
        }
    }
    map
}

proptest! {
    #[test]
    fn no_path_panics(raw in any::<String>()) {
        let _ = path::parse(&raw);
        let _ = path::parse(&format!("/api/packages/{raw}"));
    }

    #[test]
    fn encoded_segments_round_trip(
        segments in prop::collection::vec("[^\\x00-\\x1f\\x7f]{1,30}", 2..6)
    ) {
        let raw = segments
            .iter()
            .map(|s| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string())
            .collect::<Vec<_>>()
            .join("/");
        let parsed = path::parse(&format!("/api/packages/{raw}")).expect("parses");
        prop_assert_eq!(&parsed.owner, &segments[0]);
        prop_assert_eq!(&parsed.package_type, &segments[1]);
        prop_assert_eq!(&parsed.rest[..], &segments[2..]);
    }

    #[test]
    fn control_characters_never_pass(prefix in "[a-z]{0,5}", c in 0u8..0x20, suffix in "[a-z]{0,5}") {
        let raw = format!("/api/packages/u/generic/{prefix}%{c:02X}{suffix}/1/f");
        prop_assert!(path::parse(&raw).is_err());
    }

    #[test]
    fn no_conditional_or_range_panics(
        size in 0u64..1_000_000,
        values in prop::collection::vec(("[ -~]{0,60}", 0usize..6), 0..6)
    ) {
        let names = [
            header::RANGE,
            header::IF_RANGE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::IF_MODIFIED_SINCE,
            header::IF_UNMODIFIED_SINCE,
        ];
        let pairs: Vec<_> = values.into_iter().map(|(v, i)| (names[i].clone(), v)).collect();
        if let Plan::Partial { start, end } = plan(&headers(&pairs), &content(size)) {
            prop_assert!(start <= end && end < size);
        }
    }

    #[test]
    fn ranges_inside_the_content_are_served(size in 1u64..u64::MAX / 2, a in any::<u64>(), b in any::<u64>()) {
        let (start, end) = (a.min(b) % size, a.max(b) % size);
        prop_assume!(start <= end);
        let h = headers(&[(header::RANGE, format!("bytes={start}-{end}"))]);
        prop_assert_eq!(plan(&h, &content(size)), Plan::Partial { start, end });
        let h = headers(&[(header::RANGE, format!("bytes={start}-"))]);
        prop_assert_eq!(plan(&h, &content(size)), Plan::Partial { start, end: size - 1 });
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable(size in 0u64..1 << 40, past in 0u64..1 << 40) {
        let h = headers(&[(header::RANGE, format!("bytes={}-", size + past))]);
        prop_assert_eq!(plan(&h, &content(size)), Plan::Unsatisfiable);
    }

    #[test]
    fn the_current_tag_always_matches(other in "[a-f0-9]{64}") {
        let etag = format!("\"{SHA}\"");
        let h = headers(&[(header::IF_MATCH, format!("\"{other}\", {etag}"))]);
        prop_assert_eq!(plan(&h, &content(3)), Plan::Full);
        let h = headers(&[(header::IF_NONE_MATCH, format!("\"{other}\", {etag}"))]);
        prop_assert_eq!(plan(&h, &content(3)), Plan::NotModified);
        // If-Match compares strongly (RFC 9110): the weak form of the current tag fails.
        let h = headers(&[(header::IF_MATCH, format!("W/{etag}"))]);
        prop_assert_eq!(plan(&h, &content(3)), Plan::PreconditionFailed);
        let h = headers(&[(header::IF_NONE_MATCH, format!("W/{etag}"))]);
        prop_assert_eq!(plan(&h, &content(3)), Plan::NotModified);
        prop_assume!(other != SHA);
        let h = headers(&[(header::IF_MATCH, format!("\"{other}\""))]);
        prop_assert_eq!(plan(&h, &content(3)), Plan::PreconditionFailed);
    }

    #[test]
    fn dispositions_are_valid_headers_and_round_trip(name in "[A-Za-z0-9_=:;.()\\[\\]{}~!@#$%^& +-]{1,100}") {
        let value = content_disposition(&name);
        prop_assert!(HeaderValue::from_str(&value).is_ok(), "{value}");
        let encoded = value.rsplit_once("UTF-8''").map(|(_, e)| e).unwrap_or_default();
        prop_assert_eq!(percent_decode_str(encoded).decode_utf8_lossy(), name.as_str());
    }
}

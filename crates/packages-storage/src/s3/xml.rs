//! Just enough XML reading for the few S3 answers `rusty-s3` does not parse: the text of
//! flat elements, found by name. S3 answers are small, machine-written documents without
//! CDATA or nested elements of the same name.

use std::time::SystemTime;

/// The text of the first `<tag>…</tag>`, entities decoded.
pub fn first(doc: &str, tag: &str) -> Option<String> {
    blocks(doc, tag).next().map(unescape)
}

/// The contents of every `<tag>…</tag>` in order.
pub fn blocks<'a>(doc: &'a str, tag: &str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut rest = doc;
    std::iter::from_fn(move || {
        let start = rest.find(&open)? + open.len();
        let len = rest[start..].find(&close)?;
        let inner = &rest[start..start + len];
        rest = &rest[start + len + close.len()..];
        Some(inner)
    })
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// An S3 time stamp (`2026-11-29T07:25:27.000Z`).
pub fn parse_time(text: &str) -> Option<SystemTime> {
    let ts: jiff::Timestamp = text.trim().parse().ok()?;
    Some(SystemTime::from(ts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flat_elements() {
        let doc = "<R><Upload><Key>a&amp;b</Key><UploadId>1</UploadId></Upload>\
                   <Upload><Key>c</Key><UploadId>2</UploadId></Upload><IsTruncated>false</IsTruncated></R>";
        let keys: Vec<String> = blocks(doc, "Upload")
            .filter_map(|b| first(b, "Key"))
            .collect();
        assert_eq!(keys, ["a&b", "c"]);
        assert_eq!(first(doc, "IsTruncated").as_deref(), Some("false"));
        assert_eq!(first(doc, "Missing"), None);
    }

    #[test]
    fn reads_times() {
        let t = parse_time("2026-11-29T07:25:27.000Z").unwrap();
        let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs, 1_795_937_127);
    }
}

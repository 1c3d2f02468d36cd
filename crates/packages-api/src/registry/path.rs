//! Parsing of `/api/packages/{owner}/{type}/…` paths.
//!
//! Routing works on the raw path so that an encoded slash (`%2F`) stays inside its segment
//! (a version may contain one); each segment is percent-decoded afterwards, with `+` kept as
//! is. Repeated and trailing slashes are ignored.

use percent_encoding::percent_decode_str;

use crate::control_chars;
use crate::error::ApiError;

/// Prefix of every package registry route.
pub const PREFIX: &str = "/api/packages";

/// The parts of a registry path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryPath {
    pub owner: String,
    pub package_type: String,
    /// The decoded segments after the type.
    pub rest: Vec<String>,
}

/// Splits and decodes a raw request path. Paths that are not registry paths give
/// [`ApiError::NoRoute`]; undecodable segments give a 400.
pub fn parse(raw_path: &str) -> Result<RegistryPath, ApiError> {
    let tail = raw_path.strip_prefix(PREFIX).ok_or(ApiError::NoRoute)?;
    if !(tail.is_empty() || tail.starts_with('/')) {
        return Err(ApiError::NoRoute);
    }
    let mut segments = tail
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode_segment);
    let owner = segments.next().ok_or(ApiError::NoRoute)??;
    let package_type = segments.next().ok_or(ApiError::NoRoute)??;
    let rest = segments.collect::<Result<Vec<_>, _>>()?;
    Ok(RegistryPath {
        owner,
        package_type,
        rest,
    })
}

fn decode_segment(segment: &str) -> Result<String, ApiError> {
    let bytes: Vec<u8> = percent_decode_str(segment).collect();
    let text = String::from_utf8(bytes)
        .map_err(|_| ApiError::BadRequest("path segment is not valid UTF-8".to_owned()))?;
    if control_chars::has_control_char(&text) {
        return Err(control_chars::refusal());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_segments_and_keeps_encoded_slashes_inside() {
        let p =
            parse("/api/packages/user2/generic/te-st_pac.kage/1.0.3-te%20st/fi-le_na.me").unwrap();
        assert_eq!(p.owner, "user2");
        assert_eq!(p.package_type, "generic");
        assert_eq!(p.rest, ["te-st_pac.kage", "1.0.3-te st", "fi-le_na.me"]);
        let p = parse("/api/packages/u/generic/n/1.0%2F2/f+g").unwrap();
        assert_eq!(p.rest, ["n", "1.0/2", "f+g"]);
    }

    #[test]
    fn collapses_repeated_and_trailing_slashes() {
        let p = parse("/api/packages//u/generic/a//1.0/").unwrap();
        assert_eq!(p.rest, ["a", "1.0"]);
    }

    #[test]
    fn rejects_other_paths() {
        assert!(matches!(
            parse("/api/packagesx/u/generic"),
            Err(ApiError::NoRoute)
        ));
        assert!(matches!(parse("/api/packages/u"), Err(ApiError::NoRoute)));
        assert!(matches!(
            parse("/api/packages/u/generic/%ff/1/f"),
            Err(ApiError::BadRequest(_))
        ));
        for bad in [
            "/api/packages/u%00/generic/n/1/f",
            "/api/packages/u/generic/n/1%0A/f",
        ] {
            assert!(matches!(parse(bad), Err(ApiError::BadRequest(_))), "{bad}");
        }
    }
}

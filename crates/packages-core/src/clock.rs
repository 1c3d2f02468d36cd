//! The one clock: seconds since the Unix epoch for rows and tokens, and their RFC 3339 form
//! for JSON and pages. Dates go through jiff rather than hand-written calendar arithmetic.

use std::time::SystemTime;

/// Seconds since the Unix epoch, now (0 if the system clock is before it).
pub fn now_unix() -> i64 {
    jiff::Timestamp::try_from(SystemTime::now())
        .map(|t| t.as_second())
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, now (0 if the system clock is before it).
pub fn now_ms() -> i64 {
    jiff::Timestamp::try_from(SystemTime::now())
        .map(|t| t.as_millisecond())
        .unwrap_or(0)
}

/// An RFC 3339 date-time in UTC with whole seconds (`2024-05-01T12:00:00Z`). Seconds outside
/// the range a calendar date can hold are clamped to it.
pub fn rfc3339(unix: i64) -> String {
    let clamped = unix.clamp(
        jiff::Timestamp::MIN.as_second(),
        jiff::Timestamp::MAX.as_second(),
    );
    match jiff::Timestamp::from_second(clamped) {
        Ok(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => "1970-01-01T00:00:00Z".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_whole_seconds_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_714_564_800), "2024-05-01T12:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn now_is_after_2024() {
        assert!(now_unix() > 1_704_067_200);
    }
}

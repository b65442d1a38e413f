//! Google's times: RFC 3339 (`2026-01-01T00:01:00.123Z`, `2026-01-11T09:00:00-05:00`) and
//! all-day dates (`2026-01-12`), as milliseconds since the epoch, through the SDK's parser.

use agentic_sdk::time::{parse_date, parse_rfc3339, DAY_MS};

/// Milliseconds since the epoch of an RFC 3339 time with `Z` or an offset; `None` if it is not
/// one.
pub fn parse(text: &str) -> Option<i64> {
    parse_rfc3339(text)
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
pub fn days(date: &str) -> Option<i64> {
    parse_date(date)
}

/// Midnight UTC of an all-day date, in milliseconds.
pub fn date_millis(date: &str) -> Option<i64> {
    days(date).map(|d| d * DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_times_and_all_day_dates() {
        assert_eq!(parse("2026-01-01T00:01:00.123Z"), Some(1_767_225_660_123));
        assert_eq!(parse("2025-12-31T19:00:00-05:00"), Some(1_767_225_600_000));
        assert_eq!(parse("2026-01-01"), None, "an all-day date is not a time");
        assert_eq!(date_millis("2026-01-12"), Some(1_768_176_000_000));
        assert_eq!(date_millis("2026-02-30"), None);
    }
}

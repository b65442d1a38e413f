//! `xsd:dateTime` (ReqIF's `LAST-CHANGE`, `DATE` values; OSLC's `dcterms:modified`) to and from
//! Unix milliseconds, through the SDK's parser. A time without a zone is taken as UTC (ReqIF
//! files rarely say which zone they mean), a date alone as its midnight.

use agentic_sdk::time::{format_rfc3339, parse_date, parse_timestamp, DAY_MS};

/// Milliseconds since the epoch of `2018-10-12T16:43:58`, `…58.123Z`, `…58+02:00`, or a date
/// alone; `None` for anything else.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    parse_timestamp(text)
        .or_else(|| parse_timestamp(&format!("{text}Z")))
        .map(|s| s.millis)
        .or_else(|| parse_date(text).map(|days| days * DAY_MS))
}

/// `2018-10-12T16:43:58.000Z` for a Unix-milliseconds time.
pub fn format_datetime(millis: i64) -> String {
    format_rfc3339(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reqif_times_parse_with_and_without_zones() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00"), Some(0));
        assert_eq!(parse_datetime("1970-01-02"), Some(DAY_MS));
        assert_eq!(
            parse_datetime("2018-10-12T16:43:58"),
            Some(1_539_362_638_000)
        );
        assert_eq!(
            parse_datetime("2018-10-12T18:43:58.5+02:00"),
            Some(1_539_362_638_500)
        );
        assert_eq!(
            parse_datetime("2018-10-12T16:43:58Z"),
            Some(1_539_362_638_000)
        );
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(parse_datetime("2018-10-12T16:43:58ZZ"), None);
    }

    #[test]
    fn formatting_round_trips() {
        for t in [0, 1_539_362_638_123, -86_400_000, 4_102_444_800_000] {
            assert_eq!(parse_datetime(&format_datetime(t)), Some(t), "{t}");
        }
    }
}

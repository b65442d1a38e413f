//! JIRA's timestamps and JQL's dates, without a date library (the component stays small).
//!
//! JIRA answers with times like `2021-01-17T12:34:00.000+0100`: ISO 8601 with the offset of the
//! **requesting user's** time zone. JQL reads dates (`updated >= "2021-01-17 12:34"`) in that
//! same zone, at minute resolution, and accepts no offset. So the offset of the last timestamp
//! seen is the offset a JQL date must be written in; [`Stamp`] keeps both.

/// Milliseconds in a minute.
pub const MINUTE_MS: i64 = 60_000;

pub use agentic_sdk::time::Stamp;
use agentic_sdk::time::{civil_from_days, parse_timestamp};

/// Parses JIRA's timestamps (`2021-01-17T12:34:00.000+0100`; Atlassian's other APIs write `Z`):
/// the SDK's parser, which keeps the offset a JQL date must be written in.
pub fn parse(text: &str) -> Option<Stamp> {
    parse_timestamp(text)
}

/// Parses a timestamp to Unix milliseconds (see [`parse`]).
pub fn millis(text: &str) -> Option<i64> {
    parse(text).map(|s| s.millis)
}

/// The start of the minute `millis` falls in.
pub fn floor_minute(millis: i64) -> i64 {
    millis.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// `yyyy-MM-dd HH:mm` for JQL: `millis` as a wall-clock time at `offset_minutes`.
pub fn jql_date(millis: i64, offset_minutes: i32) -> String {
    let local = millis.div_euclid(1000) + i64::from(offset_minutes) * 60;
    let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// A timestamp as JIRA writes it: `2021-01-17T13:34:00.000+0100`.
pub fn jira_timestamp(millis: i64, offset_minutes: i32) -> String {
    let local = millis + i64::from(offset_minutes) * 60_000;
    let (days, ms) = (local.div_euclid(86_400_000), local.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let offset = offset_minutes.unsigned_abs();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}{sign}{:02}{:02}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000,
        offset / 60,
        offset % 60
    )
}

/// `yyyy-MM-dd` in UTC (ADF `date` nodes hold UTC midnight timestamps).
pub fn utc_date(millis: i64) -> String {
    let (y, m, d) = civil_from_days(millis.div_euclid(86_400_000));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_dates_are_wall_clock_minutes_in_the_users_zone() {
        let t = millis("2021-01-17T23:59:59.999+0000").expect("valid");
        assert_eq!(jql_date(t, 0), "2021-01-17 23:59");
        assert_eq!(jql_date(t, 60), "2021-01-18 00:59");
        assert_eq!(jql_date(t, -330), "2021-01-17 18:29");
        assert_eq!(jql_date(0, 0), "1970-01-01 00:00");
        assert_eq!(jql_date(-1, 0), "1969-12-31 23:59");
        assert_eq!(floor_minute(t) % MINUTE_MS, 0);
        assert_eq!(floor_minute(-1), -MINUTE_MS);
        assert_eq!(utc_date(t), "2021-01-17");
        for offset in [0, 60, -330, 845] {
            let text = jira_timestamp(t, offset);
            assert_eq!(
                parse(&text),
                Some(Stamp {
                    millis: t,
                    offset_minutes: offset
                }),
                "{text}"
            );
        }
        assert_eq!(jira_timestamp(t, 60), "2021-01-18T00:59:59.999+0100");
    }
}

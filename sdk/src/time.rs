//! Times as services write them (ISO 8601 / RFC 3339 with a zone), as the host's API shows them
//! (RFC 3339) and as records carry them (Unix milliseconds): one parser for every connector.
//!
//! Written by hand: parsing a timestamp is a few lines of arithmetic, and a date crate would grow
//! every component for a handful of functions. Civil-date arithmetic is Howard Hinnant's.

use serde::{Deserialize, Deserializer};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// A point in time and the UTC offset it was written with (which services such as JIRA use for
/// the caller's time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Milliseconds since the Unix epoch.
    pub millis: i64,
    /// The writer's UTC offset, in minutes east of UTC.
    pub offset_minutes: i32,
}

/// Parses the timestamps services write: `YYYY-MM-DD`, then `T` (or `t`, or a space),
/// `HH:MM`, optionally `:SS` and a fraction (`.` or `,`, any number of digits; milliseconds
/// kept), then the zone: `Z`, `±HH:MM`, `±HHMM` or `±HH`. RFC 3339 is one of these forms; JIRA
/// writes `2021-01-17T12:34:00.000+0100`. `None` for anything else, an impossible date
/// included (`2023-02-29`). A leap second (`:60`) counts as `:59`.
///
/// ```
/// use agentic_sdk::time::{parse_timestamp, Stamp};
/// assert_eq!(
///     parse_timestamp("2023-11-14T23:13:20.000+0100"),
///     Some(Stamp { millis: 1_700_000_000_000, offset_minutes: 60 })
/// );
/// assert_eq!(parse_timestamp("2023-11-14 22:13Z").map(|s| s.millis), Some(1_699_999_980_000));
/// assert_eq!(parse_timestamp("2023-11-14T22:13:20"), None); // no zone
/// ```
pub fn parse_timestamp(text: &str) -> Option<Stamp> {
    let b = text.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0_i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    let t = sep(10, b'T') || sep(10, b't') || sep(10, b' ');
    if !(sep(4, b'-') && sep(7, b'-') && t && sep(13, b':')) {
        return None;
    }
    let days = days_from_civil(num(0, 4)?, num(5, 2)?, num(8, 2)?)?;
    let (hour, minute) = (num(11, 2)?, num(14, 2)?);
    let mut at = 16;
    let (mut second, mut millis) = (0, 0);
    if sep(at, b':') {
        second = num(at + 1, 2)?;
        at += 3;
        if sep(at, b'.') || sep(at, b',') {
            at += 1;
            let start = at;
            while b.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if at == start {
                return None;
            }
            // Milliseconds: the first three digits, padded.
            millis = (start..start + 3).fold(0, |ms, i| {
                ms * 10 + if i < at { i64::from(b[i] - b'0') } else { 0 }
            });
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset_minutes = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let hours = num(at + 1, 2)?;
            let minutes = match b.len() - at - 3 {
                0 => 0,
                2 => num(at + 3, 2)?,
                3 if sep(at + 3, b':') => num(at + 4, 2)?,
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = i32::try_from(hours * 60 + minutes).ok()?;
            if sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    let local = days * 86_400 + hour * 3600 + minute * 60 + second.min(59);
    Some(Stamp {
        millis: (local - i64::from(offset_minutes) * 60) * 1000 + millis,
        offset_minutes,
    })
}

/// Milliseconds since the epoch of an RFC 3339 timestamp (`2026-11-25T10:00:00Z`,
/// `…00.123Z`, `…00+02:00`) or of the other forms of [`parse_timestamp`]; `None` for anything
/// else (a date alone, a time without a zone, an impossible date).
///
/// ```
/// use agentic_sdk::time::parse_rfc3339;
/// assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1_500));
/// assert_eq!(parse_rfc3339("2023-11-14T23:13:20+01:00"), Some(1_700_000_000_000));
/// assert_eq!(parse_rfc3339("2023-02-30T00:00:00Z"), None);
/// ```
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    parse_timestamp(text).map(|s| s.millis)
}

/// Days since 1970-01-01 of a calendar date `YYYY-MM-DD` (an all-day event, a due date); `None`
/// for anything else or an impossible date.
///
/// ```
/// assert_eq!(agentic_sdk::time::parse_date("1970-01-02"), Some(1));
/// assert_eq!(agentic_sdk::time::parse_date("2026-02-29"), None);
/// ```
pub fn parse_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        return None;
    }
    days_from_civil(
        text[..4].parse().ok()?,
        text[5..7].parse().ok()?,
        text[8..].parse().ok()?,
    )
}

/// `2018-10-12T16:43:58.123Z`: `millis` in UTC, as RFC 3339 with milliseconds.
pub fn format_rfc3339(millis: i64) -> String {
    let (y, m, d) = civil_from_days(millis.div_euclid(DAY_MS));
    let ms = millis.rem_euclid(DAY_MS);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date; `None` when the date does not exist.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The calendar date `(year, month, day)` of a count of days since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Deserialises a record's time from Unix milliseconds (the contract's form) or an RFC 3339
/// string (the host API's form), so an action can take records as `GET …/requirements` lists
/// them. For `Option<i64>` fields: `#[serde(deserialize_with = "…")]`.
pub fn millis_or_rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Time {
        Millis(i64),
        Text(String),
    }
    match Option::<Time>::deserialize(d)? {
        None => Ok(None),
        Some(Time::Millis(ms)) => Ok(Some(ms)),
        Some(Time::Text(text)) => parse_rfc3339(&text).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is neither Unix milliseconds nor an RFC 3339 time"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_as_the_host_writes_it_and_as_services_do() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2026-11-25T10:00:00.123Z"),
            Some(1_795_600_800_123)
        );
        assert_eq!(
            parse_rfc3339("2026-11-25T10:00:00.1Z"),
            Some(1_795_600_800_100)
        );
        assert_eq!(
            parse_rfc3339("2026-11-25T11:00:00+01:00"),
            Some(1_795_600_800_000)
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some(-1_000));
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(1_709_164_800_000)
        );
        for bad in [
            "2023-02-29T00:00:00Z",
            "2026-11-25",
            "2026-11-25T10:00:00",
            "2026-13-01T00:00:00Z",
            "2026-11-25T10:00:00.Z",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_zone_style_services_write_parses() {
        let utc = 1_610_886_840_000; // 2021-01-17T12:34:00Z
        for text in [
            "2021-01-17T12:34:00.000+0000",
            "2021-01-17T12:34:00Z",
            "2021-01-17T12:34Z",
            "2021-01-17 12:34:00z",
            "2021-01-17T13:34:00.000+01:00",
            "2021-01-17T13:34:00+01",
            "2021-01-17T07:04:00.000-0530",
            "2021-01-17T12:34:00,000Z",
        ] {
            assert_eq!(parse_rfc3339(text), Some(utc), "{text}");
        }
        assert_eq!(
            parse_timestamp("2021-01-17T12:34:00.5-0200"),
            Some(Stamp {
                millis: utc + 2 * 3_600_000 + 500,
                offset_minutes: -120
            })
        );
        assert_eq!(
            parse_rfc3339("2021-01-17T12:34:00.123456789+0000"),
            Some(utc + 123)
        );
        for bad in [
            "",
            "1",
            "2021-01-17T12:34:00+1",
            "2021-01-17T12:34:00.+0000",
            "2021-01-17T12:34:00Zjunk",
            "2021-01-17T24:00:00Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn civil_days_round_trip_over_four_centuries() {
        for days in (-200_000..200_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), Some(days));
        }
        assert_eq!(days_from_civil(2000, 2, 29), Some(11_016));
        assert_eq!(days_from_civil(1900, 2, 29), None);
        for t in [0, 1_539_362_638_123, -86_400_000, 4_102_444_800_000, -1] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t), "{t}");
        }
        assert_eq!(
            format_rfc3339(1_539_362_638_123),
            "2018-10-12T16:43:58.123Z"
        );
        assert_eq!(parse_date("2026-01-12"), Some(20_465));
        assert_eq!(parse_date("2026-1-12"), None);
    }
}

//! JIRA's timestamps and JQL's dates, without a date library (the component stays small).
//!
//! JIRA answers with times like `2021-01-17T12:34:00.000+0100`: ISO 8601 with the offset of the
//! **requesting user's** time zone. JQL reads dates (`updated >= "2021-01-17 12:34"`) in that
//! same zone, at minute resolution, and accepts no offset. So the offset of the last timestamp
//! seen is the offset a JQL date must be written in; [`Stamp`] keeps both.

/// Milliseconds in a minute.
pub const MINUTE_MS: i64 = 60_000;

/// A point in time and the UTC offset it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Milliseconds since the Unix epoch.
    pub millis: i64,
    /// The writer's UTC offset, in minutes east of UTC.
    pub offset_minutes: i32,
}

/// Parses `YYYY-MM-DDTHH:MM[:SS[.fff…]]` followed by `Z`, `±HHMM`, `±HH:MM` or `±HH` (JIRA
/// writes `+0000`, Atlassian's other APIs `Z`). `None` for anything else.
pub fn parse(text: &str) -> Option<Stamp> {
    let b = text.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0_i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && (sep(10, b'T') || sep(10, b' ')) && sep(13, b':')) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute) = (num(11, 2)?, num(14, 2)?);
    let mut at = 16;
    let mut second = 0;
    let mut nanos_ms = 0;
    if sep(at, b':') {
        second = num(at + 1, 2)?;
        at += 3;
        if sep(at, b'.') || sep(at, b',') {
            at += 1;
            let start = at;
            while b.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            let fraction = &b[start..at];
            if fraction.is_empty() {
                return None;
            }
            // Milliseconds: the first three digits, padded.
            nanos_ms = (0..3).fold(0, |ms, i| {
                ms * 10 + fraction.get(i).map_or(0, |d| i64::from(d - b'0'))
            });
        }
    }
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
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
    let days = days_from_civil(year, month, day);
    let local = ((days * 24 + hour) * 60 + minute) * 60 + second;
    let millis = (local - i64::from(offset_minutes) * 60) * 1000 + nanos_ms;
    Some(Stamp {
        millis,
        offset_minutes,
    })
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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jira_timestamps_in_every_offset_style_parse() {
        let utc = 1_610_886_840_000; // 2021-01-17T12:34:00Z
        for text in [
            "2021-01-17T12:34:00.000+0000",
            "2021-01-17T12:34:00Z",
            "2021-01-17T12:34Z",
            "2021-01-17T13:34:00.000+01:00",
            "2021-01-17T13:34:00+01",
            "2021-01-17T07:04:00.000-0530",
        ] {
            assert_eq!(millis(text), Some(utc), "{text}");
        }
        assert_eq!(
            parse("2021-01-17T12:34:00.5-0200"),
            Some(Stamp {
                millis: utc + 2 * 3_600_000 + 500,
                offset_minutes: -120
            })
        );
        assert_eq!(
            millis("2021-01-17T12:34:00.123456789+0000"),
            Some(utc + 123)
        );
        for bad in [
            "",
            "1",
            "2021-01-17",
            "2021-13-17T12:34:00Z",
            "2021-01-17T12:34:00",
            "2021-01-17T12:34:00+1",
            "2021-01-17T12:34:00.+0000",
            "2021-01-17T12:34:00Zjunk",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

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

    #[test]
    fn civil_days_round_trip_over_four_centuries() {
        for days in (-200_000..200_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
    }
}

//! Times as the host's API shows them (RFC 3339) and as records carry them (Unix milliseconds).
//!
//! Written by hand: a strict RFC 3339 parser is a few lines of arithmetic, and a date crate
//! would grow every component for one function.

use serde::{Deserialize, Deserializer};

/// Milliseconds since the epoch of an RFC 3339 timestamp (`2026-11-25T10:00:00Z`,
/// `…00.123Z`, `…00+02:00`); `None` for anything else (a date alone, a time without a zone,
/// an impossible date).
///
/// ```
/// use agentic_sdk::time::parse_rfc3339;
/// assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1_500));
/// assert_eq!(parse_rfc3339("2023-11-14T23:13:20+01:00"), Some(1_700_000_000_000));
/// assert_eq!(parse_rfc3339("2023-02-30T00:00:00Z"), None);
/// ```
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let scaled: String = fraction[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = scaled.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset_secs;
    Some(secs * 1000 + millis)
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
}

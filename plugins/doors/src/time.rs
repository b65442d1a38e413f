//! `xsd:dateTime` (ReqIF's `LAST-CHANGE`, `DATE` values; OSLC's `dcterms:modified`) to and from
//! Unix milliseconds. A time without a zone is taken as UTC.

/// Milliseconds since the epoch of `2018-10-12T16:43:58`, `…58.123Z`, `…58+02:00`; `None` for
/// anything else.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_once('T').unwrap_or((text, "00:00:00"));
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Split the zone off: `Z`, `+hh:mm` or `-hh:mm` after the seconds.
    let (clock, offset_secs) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0)
    } else if let Some(at) = rest.rfind(['+', '-']).filter(|&i| i >= 8) {
        let (c, zone) = rest.split_at(at);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (h, m) = zone[1..].split_once(':').unwrap_or((&zone[1..], "0"));
        let secs = h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60;
        (c, sign * secs)
    } else {
        (rest, 0)
    };
    let mut t = clock.splitn(3, ':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let seconds = t.next().unwrap_or("0");
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
    let second: i64 = whole.parse().ok()?;
    if hour > 24 || minute > 59 || second > 60 {
        return None;
    }
    let millis: i64 = format!("{fraction:0<3}")
        .get(..3)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0);
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs) * 1000) + millis)
}

/// `2018-10-12T16:43:58.000Z` for a Unix-milliseconds time.
pub fn format_datetime(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reqif_times_parse_with_and_without_zones() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00"), Some(0));
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
    }

    #[test]
    fn formatting_round_trips() {
        for t in [0, 1_539_362_638_123, -86_400_000, 4_102_444_800_000] {
            assert_eq!(parse_datetime(&format_datetime(t)), Some(t), "{t}");
        }
    }
}

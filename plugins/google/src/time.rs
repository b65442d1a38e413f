//! Google's times: RFC 3339 (`2026-01-01T00:01:00.123Z`, `2026-01-11T09:00:00-05:00`) and
//! all-day dates (`2026-01-12`), as milliseconds since the epoch.

/// Milliseconds since the epoch of an RFC 3339 time with `Z` or an offset; `None` if it is not
/// one.
pub fn parse(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b.get(10) != Some(&b'T') {
        return None;
    }
    let num = |from: usize, len: usize| -> Option<i64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0_i64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let days = days(text.get(..10)?)?;
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, m, s) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = &text[start..i];
        let padded: String = frac.chars().chain("000".chars()).take(3).collect();
        millis = padded.parse().ok()?;
    }
    let offset_minutes = match b.get(i..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), ..] if b.len() == i + 6 && b[i + 3] == b':' => {
            let minutes = num(i + 1, 2)? * 60 + num(i + 4, 2)?;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    Some(((days * 86_400 + h * 3600 + m * 60 + s) - offset_minutes * 60) * 1000 + millis)
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
pub fn days(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (
        date[..4].parse().ok()?,
        date[5..7].parse().ok()?,
        date[8..].parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Midnight UTC of an all-day date, in milliseconds.
pub fn date_millis(date: &str) -> Option<i64> {
    days(date).map(|d| d * 86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_with_any_offset() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse("2026-01-01T00:01:00.123Z"), Some(1_767_225_660_123));
        assert_eq!(parse("2025-12-31T19:00:00-05:00"), Some(1_767_225_600_000));
        assert_eq!(parse("2026-01-01T01:00:00+01:00"), Some(1_767_225_600_000));
        assert_eq!(parse("2026-01-01T00:00:00.5Z"), Some(1_767_225_600_500));
        assert_eq!(parse("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        for bad in [
            "2026-01-01",
            "2026-01-01T25:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00+1",
            "x",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(date_millis("2026-01-12"), Some(1_768_176_000_000));
    }
}

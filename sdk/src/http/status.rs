//! From HTTP status codes to the contract's typed errors, so the host reacts correctly: it
//! reschedules after `rate-limited`, retries `transient`, and shows the rest to people.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Response;
use crate::error::Error;

/// The delay used when a service throttles (429) without saying for how long.
pub const DEFAULT_RETRY_AFTER_SECS: u32 = 60;

/// Longest excerpt of a response body quoted in an error message.
const EXCERPT_CHARS: usize = 200;

/// The typed error for a response's status, or `None` for 2xx:
///
/// | status | error |
/// |---|---|
/// | 429 | `RateLimited`, delay from the headers (see [`retry_after_secs`]) or [`DEFAULT_RETRY_AFTER_SECS`] |
/// | 503 with a delay header | `RateLimited` |
/// | 403 with `X-RateLimit-Remaining: 0` | `RateLimited` (GitHub's way) |
/// | 401, 403 | `Auth` |
/// | 404 | `NotFound` |
/// | 408, 5xx | `Transient` |
/// | 3xx | `Config`: redirects are not followed, the base URL probably needs fixing |
/// | other 4xx | `InvalidInput` |
///
/// `now` is the current time, for `Retry-After` dates.
pub fn status_error(response: &Response, now: SystemTime) -> Option<Error> {
    let status = response.status;
    if (200..300).contains(&status) {
        return None;
    }
    let message = describe(response);
    let delay = retry_after_secs(response, now);
    let exhausted = response
        .header("x-ratelimit-remaining")
        .is_some_and(|v| v.trim() == "0");
    Some(match status {
        429 => Error::RateLimited {
            retry_after_secs: delay.unwrap_or(DEFAULT_RETRY_AFTER_SECS),
            message,
        },
        503 if delay.is_some() => Error::RateLimited {
            retry_after_secs: delay.unwrap_or(DEFAULT_RETRY_AFTER_SECS),
            message,
        },
        403 if exhausted => Error::RateLimited {
            retry_after_secs: delay.unwrap_or(DEFAULT_RETRY_AFTER_SECS),
            message,
        },
        401 | 403 => Error::Auth(message),
        404 => Error::NotFound(message),
        408 | 500..=599 => Error::Transient(message),
        300..=399 => Error::Config(match response.header("location") {
            Some(to) => format!("{message} (redirected to {to}; check the base URL)"),
            None => format!("{message} (a redirect; check the base URL)"),
        }),
        400..=499 => Error::InvalidInput(message),
        _ => Error::Internal(message),
    })
}

/// How long the service asks us to wait, in seconds, from `Retry-After` (delay in seconds or an
/// HTTP date) or else `X-RateLimit-Reset` / `RateLimit-Reset` (a Unix time in seconds, as GitHub
/// sends, an ISO 8601 time, as Atlassian sends, or a delay in seconds, as the IETF draft does —
/// numbers above 10⁹ are read as times).
/// Rounded up; a time already past gives 0.
pub fn retry_after_secs(response: &Response, now: SystemTime) -> Option<u32> {
    let until = |t: SystemTime| {
        let wait = t.duration_since(now).unwrap_or(Duration::ZERO);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        u32::try_from(secs).unwrap_or(u32::MAX)
    };
    if let Some(value) = response.header("retry-after").map(str::trim) {
        if let Ok(secs) = value.parse::<u64>() {
            return Some(u32::try_from(secs).unwrap_or(u32::MAX));
        }
        if let Ok(date) = httpdate::parse_http_date(value) {
            return Some(until(date));
        }
    }
    let reset = response
        .header("x-ratelimit-reset")
        .or_else(|| response.header("ratelimit-reset"))?
        .trim();
    if let Some(at) = iso_8601(reset) {
        // Atlassian's form: `2025-01-31T12:10Z`.
        return Some(until(at));
    }
    let reset = reset.parse::<u64>().ok()?;
    if reset > 1_000_000_000 {
        Some(until(UNIX_EPOCH + Duration::from_secs(reset)))
    } else {
        Some(u32::try_from(reset).unwrap_or(u32::MAX))
    }
}

/// An ISO 8601 UTC time as `YYYY-MM-DDTHH:MM[:SS[.fff]]` followed by `Z` or `±HH:MM`
/// (what Atlassian sends in `X-RateLimit-Reset`). Only times after 1970.
fn iso_8601(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<u64> {
        let digits = b.get(from..from + len)?;
        digits.iter().try_fold(0_u64, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':')) {
        return None;
    }
    let (year, month, day, hour, minute) =
        (num(0, 4)?, num(5, 2)?, num(8, 2)?, num(11, 2)?, num(14, 2)?);
    let mut i = 16;
    let mut second = 0;
    if at(i, b':') {
        second = num(i + 1, 2)?;
        i += 3;
        if at(i, b'.') {
            i += 1;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
    }
    let offset: i64 = match b.get(i..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), ..] if b.len() == i + 6 && at(i + 3, b':') => {
            let minutes = i64::try_from(num(i + 1, 2)? * 60 + num(i + 4, 2)?).ok()?;
            if *sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
        _ => return None,
    };
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let secs = i64::try_from((days - 719_468) * 86_400 + hour * 3600 + minute * 60 + second)
        .ok()?
        - offset * 60;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// `GET http://…: 404 {body excerpt}`: what the error text says about a response.
fn describe(response: &Response) -> String {
    let text = response.text();
    let excerpt: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(EXCERPT_CHARS)
        .collect();
    let mut message = format!("{} {}: {}", response.method, response.url, response.status);
    if !excerpt.is_empty() {
        message.push_str(": ");
        message.push_str(&excerpt);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Method;

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: b"  service\n says no ".to_vec(),
            method: Method::Get,
            url: "http://svc/x".into(),
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn error(status: u16, headers: &[(&str, &str)]) -> Option<Error> {
        status_error(&response(status, headers), at(1_445_412_000))
    }

    #[test]
    fn success_is_no_error() {
        assert_eq!(error(200, &[]), None);
        assert_eq!(error(204, &[]), None);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date_becomes_rate_limited() {
        assert_eq!(
            error(429, &[("Retry-After", "120")]),
            Some(Error::RateLimited {
                retry_after_secs: 120,
                message: "GET http://svc/x: 429: service says no".into()
            })
        );
        // 1445412000 is Wed, 21 Oct 2015 07:20:00 GMT: eight minutes before the date.
        assert!(matches!(
            error(503, &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
            Some(Error::RateLimited {
                retry_after_secs: 480,
                ..
            })
        ));
        assert!(matches!(
            error(429, &[("Retry-After", "Wed, 21 Oct 2015 07:00:00 GMT")]),
            Some(Error::RateLimited {
                retry_after_secs: 0,
                ..
            })
        ));
        assert!(matches!(
            error(429, &[]),
            Some(Error::RateLimited {
                retry_after_secs: DEFAULT_RETRY_AFTER_SECS,
                ..
            })
        ));
    }

    #[test]
    fn rate_limit_reset_headers_are_times_or_delays() {
        assert!(matches!(
            error(429, &[("X-RateLimit-Reset", "1445412090")]),
            Some(Error::RateLimited {
                retry_after_secs: 90,
                ..
            })
        ));
        assert!(matches!(
            error(429, &[("RateLimit-Reset", "7")]),
            Some(Error::RateLimited {
                retry_after_secs: 7,
                ..
            })
        ));
        // Atlassian: an ISO 8601 time, to the minute, with the delay or without it.
        assert!(matches!(
            error(429, &[("X-RateLimit-Reset", "2015-10-21T07:22Z")]),
            Some(Error::RateLimited {
                retry_after_secs: 120,
                ..
            })
        ));
        assert!(matches!(
            error(503, &[("X-RateLimit-Reset", "2015-10-21T09:20:30.5+02:00")]),
            Some(Error::RateLimited {
                retry_after_secs: 30,
                ..
            })
        ));
        assert_eq!(
            retry_after_secs(
                &response(
                    429,
                    &[
                        ("Retry-After", "5"),
                        ("X-RateLimit-Reset", "2015-10-21T07:22Z")
                    ]
                ),
                at(1_445_412_000)
            ),
            Some(5),
            "Retry-After comes first"
        );
        for bad in [
            "2015-10-21",
            "2015-10-21T07:02",
            "2015-13-21T07:02Z",
            "1969-12-31T23:59Z",
            "2015-10-21T07:02+2",
        ] {
            assert_eq!(iso_8601(bad), None, "{bad}");
        }
        // GitHub: 403 with the budget exhausted is throttling, not a credential problem.
        assert!(matches!(
            error(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1445412030")
                ]
            ),
            Some(Error::RateLimited {
                retry_after_secs: 30,
                ..
            })
        ));
    }

    #[test]
    fn other_statuses_map_to_their_cases() {
        assert!(matches!(error(401, &[]), Some(Error::Auth(_))));
        assert!(matches!(
            error(403, &[("x-ratelimit-remaining", "12")]),
            Some(Error::Auth(_))
        ));
        assert!(matches!(error(404, &[]), Some(Error::NotFound(_))));
        assert!(matches!(error(503, &[]), Some(Error::Transient(_))));
        assert!(matches!(error(500, &[]), Some(Error::Transient(_))));
        assert!(matches!(error(408, &[]), Some(Error::Transient(_))));
        assert!(matches!(error(422, &[]), Some(Error::InvalidInput(_))));
        match error(301, &[("Location", "https://svc/x")]) {
            Some(Error::Config(m)) => assert!(m.contains("redirected to https://svc/x"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

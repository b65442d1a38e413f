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
/// sends, or a delay in seconds, as the IETF draft does — values above 10⁹ are read as times).
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
        .trim()
        .parse::<u64>()
        .ok()?;
    if reset > 1_000_000_000 {
        Some(until(UNIX_EPOCH + Duration::from_secs(reset)))
    } else {
        Some(u32::try_from(reset).unwrap_or(u32::MAX))
    }
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

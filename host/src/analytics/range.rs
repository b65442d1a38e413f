//! The window of a report: `from`, `to` and the bucket width, parsed, checked and aligned.
//!
//! The same bucket boundaries are computed here (to lay out a dense series) and in SQL (to
//! group rows, `store::analytics`): hours and days by integer division of epoch milliseconds,
//! weeks from Monday 00:00 UTC, months as calendar months in UTC.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, Time};

use crate::clock::Millis;

/// Most points a series may have: enough for 41 days by the hour or 2.7 years by the day,
/// small enough that one report stays a cheap query and a small response.
pub const MAX_POINTS: usize = 1000;

// Widths in milliseconds: buckets are integer division of epoch milliseconds, as in SQL.
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
/// The epoch was a Thursday; weeks start three days earlier, on Monday.
const WEEK_SHIFT: i64 = 3 * DAY;

/// The width of a series' buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// One hour.
    Hour,
    /// One day (UTC).
    Day,
    /// One week, Monday to Sunday (UTC).
    Week,
    /// One calendar month (UTC).
    Month,
}

impl Bucket {
    /// Every width, as accepted by `?bucket=`.
    pub const ALL: [Bucket; 4] = [Bucket::Hour, Bucket::Day, Bucket::Week, Bucket::Month];

    /// The query-parameter name.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
        }
    }

    /// Parses [`Bucket::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// Buckets in the default window (ending with the current bucket).
    fn default_count(self) -> u32 {
        match self {
            Bucket::Hour => 24,
            Bucket::Day => 30,
            Bucket::Week | Bucket::Month => 12,
        }
    }

    /// The start of the bucket holding `t` (`t` ≥ 0).
    pub fn floor(self, t: Millis) -> Millis {
        let ms = t.as_ms();
        match self {
            Bucket::Hour => Millis::from_ms(ms.div_euclid(HOUR) * HOUR),
            Bucket::Day => Millis::from_ms(ms.div_euclid(DAY) * DAY),
            Bucket::Week => Millis::from_ms((ms + WEEK_SHIFT).div_euclid(WEEK) * WEEK - WEEK_SHIFT),
            Bucket::Month => {
                let date = t.to_datetime().date();
                month_start(date.year(), date.month())
            }
        }
    }

    /// The start of the bucket after the one holding `t`.
    pub fn next(self, t: Millis) -> Millis {
        match self {
            Bucket::Hour => Millis::from_ms(self.floor(t).as_ms() + HOUR),
            Bucket::Day => Millis::from_ms(self.floor(t).as_ms() + DAY),
            Bucket::Week => Millis::from_ms(self.floor(t).as_ms() + WEEK),
            Bucket::Month => {
                let date = t.to_datetime().date();
                match date.month() {
                    Month::December => month_start(date.year() + 1, Month::January),
                    m => month_start(date.year(), m.next()),
                }
            }
        }
    }

    /// The start of the bucket before the one holding `t`.
    fn previous(self, t: Millis) -> Millis {
        self.floor(Millis::from_ms(self.floor(t).as_ms() - 1))
    }
}

/// Midnight UTC of the first of the month, in epoch milliseconds.
fn month_start(year: i32, month: Month) -> Millis {
    Date::from_calendar_date(year, month, 1)
        .map(|d| Millis::from_datetime(d.with_time(Time::MIDNIGHT).assume_utc()))
        .unwrap_or(Millis::EPOCH)
}

/// A parameter the caller must fix, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError {
    /// `from`, `to` or `bucket`.
    pub field: &'static str,
    /// What to fix.
    pub message: String,
}

impl RangeError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A checked window: `from < to`, neither before 1970, at most [`MAX_POINTS`] buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Start, inclusive.
    pub from: Millis,
    /// End, exclusive.
    pub to: Millis,
    /// Bucket width.
    pub bucket: Bucket,
}

impl Range {
    /// The window the query parameters ask for; every parameter is optional. Without `to` the
    /// window ends where the bucket holding `now` ends (so it is the same for the whole bucket,
    /// and a cached report can be reused); without `from` it starts a default number of
    /// buckets earlier (24 hours, 30 days, 12 weeks or 12 months). Without `bucket`, days.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        bucket: Option<&str>,
        now: Millis,
    ) -> Result<Self, Vec<RangeError>> {
        let mut errors = Vec::new();
        let bucket = match bucket {
            None => Some(Bucket::Day),
            Some(b) => Bucket::parse(b).or_else(|| {
                errors.push(RangeError::new(
                    "bucket",
                    "must be one of hour, day, week, month",
                ));
                None
            }),
        };
        let mut time = |field: &'static str, value: Option<&str>| match value {
            None => None,
            Some(v) => match OffsetDateTime::parse(v, &Rfc3339) {
                Ok(t) if t.unix_timestamp() >= 0 => Some(Millis::from_datetime(t)),
                Ok(_) => {
                    errors.push(RangeError::new(field, "must not be before 1970-01-01"));
                    None
                }
                Err(_) => {
                    errors.push(RangeError::new(
                        field,
                        "must be an RFC 3339 date-time, e.g. 2026-01-31T00:00:00Z",
                    ));
                    None
                }
            },
        };
        let from_given = time("from", from);
        let to_given = time("to", to);
        let Some(bucket) = bucket else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let to = to_given.unwrap_or_else(|| bucket.next(now.max(Millis::EPOCH)));
        let from = from_given.unwrap_or_else(|| {
            (0..bucket.default_count()).fold(to, |t, _| bucket.previous(t).max(Millis::EPOCH))
        });
        if from >= to {
            return Err(vec![RangeError::new("from", "must be before `to`")]);
        }
        let range = Range { from, to, bucket };
        let points = range.count_points(MAX_POINTS + 1);
        if points > MAX_POINTS {
            return Err(vec![RangeError::new(
                "from",
                format!(
                    "the range from {} to {} holds more than {MAX_POINTS} {} buckets, and a \
                     series has at most {MAX_POINTS} points: shorten the range or choose a \
                     larger bucket",
                    from.rfc3339(),
                    to.rfc3339(),
                    bucket.as_str(),
                ),
            )]);
        }
        Ok(range)
    }

    /// How many buckets the window touches, counting no further than `limit`.
    fn count_points(&self, limit: usize) -> usize {
        let mut n = 0;
        let mut start = self.bucket.floor(self.from);
        while start < self.to && n < limit {
            n += 1;
            start = self.bucket.next(start);
        }
        n
    }

    /// The start of every bucket the window touches, in order; the first may begin before
    /// `from` (it is the bucket holding `from`).
    pub fn starts(&self) -> Vec<Millis> {
        let mut out = Vec::new();
        let mut start = self.bucket.floor(self.from);
        while start < self.to && out.len() < MAX_POINTS {
            out.push(start);
            start = self.bucket.next(start);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Millis {
        Millis::from_datetime(OffsetDateTime::parse(s, &Rfc3339).expect("time"))
    }

    #[test]
    fn buckets_align_to_utc_hours_days_mondays_and_months() {
        let t = at("2026-11-25T13:47:55.123Z"); // a Wednesday
        assert_eq!(Bucket::Hour.floor(t), at("2026-11-25T13:00:00Z"));
        assert_eq!(Bucket::Day.floor(t), at("2026-11-25T00:00:00Z"));
        assert_eq!(Bucket::Week.floor(t), at("2026-11-23T00:00:00Z"));
        assert_eq!(Bucket::Week.next(t), at("2026-11-30T00:00:00Z"));
        assert_eq!(Bucket::Month.floor(t), at("2026-11-01T00:00:00Z"));
        assert_eq!(Bucket::Month.next(t), at("2026-12-01T00:00:00Z"));
        assert_eq!(
            Bucket::Month.next(at("2026-12-31T23:59:59Z")),
            at("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            Bucket::Week.floor(Millis::EPOCH),
            at("1969-12-29T00:00:00Z")
        );
    }

    #[test]
    fn defaults_end_with_the_current_bucket() {
        let now = at("2026-11-25T13:47:55Z");
        let r = Range::parse(None, None, None, now).expect("range");
        assert_eq!(r.bucket, Bucket::Day);
        assert_eq!(r.to, at("2026-11-26T00:00:00Z"));
        assert_eq!(r.from, at("2026-10-27T00:00:00Z"));
        assert_eq!(r.starts().len(), 30);
        let r = Range::parse(None, None, Some("month"), now).expect("range");
        assert_eq!(r.from, at("2025-12-01T00:00:00Z"));
        assert_eq!(r.starts().len(), 12);
    }

    #[test]
    fn bad_parameters_name_their_field() {
        let now = at("2026-11-25T13:47:55Z");
        let fields = |from, to, bucket| {
            Range::parse(from, to, bucket, now)
                .expect_err("refused")
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(None, None, Some("minute")), ["bucket"]);
        assert_eq!(
            fields(Some("yesterday"), Some("2026-13-01"), None),
            ["from", "to"]
        );
        assert_eq!(
            fields(
                Some("2026-11-02T00:00:00Z"),
                Some("2026-11-01T00:00:00Z"),
                None
            ),
            ["from"]
        );
        assert_eq!(fields(Some("1960-01-01T00:00:00Z"), None, None), ["from"]);
        let long = Range::parse(
            Some("2026-01-01T00:00:00Z"),
            Some("2026-03-01T00:00:00Z"),
            Some("hour"),
            now,
        )
        .expect_err("too many points");
        assert!(long[0].message.contains("at most 1000"), "{long:?}");
        // 1000 hours exactly is fine.
        let from = at("2026-01-01T00:00:00Z");
        let to = (from + std::time::Duration::from_secs(1000 * 3600)).rfc3339();
        let r = Range::parse(Some(&from.rfc3339()), Some(&to), Some("hour"), now).expect("ok");
        assert_eq!(r.starts().len(), 1000);
    }
}

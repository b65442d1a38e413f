//! Time as the host sees it.
//!
//! Session expiry (idle and absolute timeouts) and token lifetimes are decided against this clock
//! rather than the system time directly, so that tests can move time forward instead of sleeping.
//!
//! A point in time is a [`Millis`] (milliseconds since the Unix epoch, as the store keeps every
//! timestamp); a span of time is a [`std::time::Duration`]. The two do not mix by accident: a
//! time plus a duration is a time, a time minus a time is a duration, and a time plus a time
//! does not compile.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyTypeInfo, AnyValueRef};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Any, Database, Decode, Encode, Type};

/// A point in time: milliseconds since the Unix epoch (UTC), the unit of every timestamp in the
/// store.
///
/// The store binds and decodes it as the `BIGINT` it is stored as (one query text for both
/// databases); serde writes it as the bare number, and API views format it as RFC 3339 with
/// [`Millis::to_datetime`]. There is deliberately no `From<i64>` and no `Deref`: a number
/// becomes a time where it enters (a row, a parsed name, bucket arithmetic) with
/// [`Millis::from_ms`], so a count, an id or a duration cannot pass for one.
#[derive(
    Debug,
    Default,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Millis(i64);

/// A duration's whole milliseconds, saturating at `i64::MAX` (292 million years).
fn ms_of(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Millis {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const EPOCH: Millis = Millis(0);
    /// The latest time there is, for "never" in comparisons.
    pub const MAX: Millis = Millis(i64::MAX);

    /// The time `ms` milliseconds after the epoch (before it, when negative).
    pub const fn from_ms(ms: i64) -> Self {
        Millis(ms)
    }

    /// Milliseconds since the epoch, for arithmetic on the calendar (analytics buckets) and
    /// formats that carry the number (backup names).
    pub const fn as_ms(self) -> i64 {
        self.0
    }

    /// The time `secs` whole seconds after the epoch (JWT `iat`/`exp`), saturating.
    pub const fn from_secs(secs: i64) -> Self {
        Millis(secs.saturating_mul(1000))
    }

    /// Whole seconds since the epoch, rounded down (JWT `iat`/`exp`).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// The time as a calendar date and time in UTC; out of `time`'s range (beyond the year
    /// 9999), the epoch. API views serialize it as RFC 3339 (`2026-11-25T10:00:00.123Z`).
    pub fn to_datetime(self) -> time::OffsetDateTime {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    }

    /// The time of a calendar date and time, to the millisecond (truncated); beyond the range
    /// of `i64` milliseconds, [`Millis::MAX`].
    pub fn from_datetime(t: time::OffsetDateTime) -> Self {
        Millis(i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
    }

    /// The time as RFC 3339 text in UTC (`2026-11-25T10:00:00.123Z`), for JSON written by hand.
    pub fn rfc3339(self) -> String {
        self.to_datetime()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    /// The time `d` after this one, saturating at the ends of time.
    pub fn saturating_add(self, d: Duration) -> Self {
        Millis(self.0.saturating_add(ms_of(d)))
    }

    /// The time `d` before this one, saturating at the ends of time.
    pub fn saturating_sub(self, d: Duration) -> Self {
        Millis(self.0.saturating_sub(ms_of(d)))
    }

    /// How long after `earlier` this time is: zero when it is not after it (as
    /// [`std::time::Instant`] does), so a clock that stepped back or a time written by a host
    /// whose clock is ahead reads as "just now", never as a negative age.
    pub fn since(self, earlier: Millis) -> Duration {
        let ms = self.0.saturating_sub(earlier.0);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }
}

/// A time plus a duration: later, saturating.
impl Add<Duration> for Millis {
    type Output = Millis;

    fn add(self, d: Duration) -> Millis {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Millis {
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

/// A time minus a duration: earlier, saturating.
impl Sub<Duration> for Millis {
    type Output = Millis;

    fn sub(self, d: Duration) -> Millis {
        self.saturating_sub(d)
    }
}

/// A time minus an earlier time: the duration between, zero when it is not earlier
/// ([`Millis::since`]).
impl Sub<Millis> for Millis {
    type Output = Duration;

    fn sub(self, earlier: Millis) -> Duration {
        self.since(earlier)
    }
}

/// Bound and decoded as the `BIGINT` it is stored as, through the `i64` of the `Any` driver.
impl Type<Any> for Millis {
    fn type_info() -> AnyTypeInfo {
        <i64 as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <i64 as Type<Any>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Any> for Millis {
    fn encode_by_ref(
        &self,
        buf: &mut <Any as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'q, Any>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Any> for Millis {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        <i64 as Decode<'r, Any>>::decode(value).map(Millis)
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now_ms(&self) -> Millis;

    /// Now, in whole seconds since the Unix epoch (JWT `iat`/`exp`).
    fn now_secs(&self) -> i64 {
        self.now_ms().as_secs()
    }
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Millis(ms_of(since))
    }
}

/// A clock that only moves when told to; starts at the real time.
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A manual clock set to the current wall-clock time.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            now: AtomicI64::new(SystemClock.now_ms().0),
        })
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(ms_of(by), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        Millis(self.now.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_its_number_in_json_and_rfc3339_at_the_edge() {
        let t = Millis::from_ms(1_795_600_800_123);
        assert_eq!(serde_json::to_string(&t).expect("json"), "1795600800123");
        assert_eq!(
            serde_json::from_str::<Millis>("1795600800123").expect("parse"),
            t
        );
        assert_eq!(t.rfc3339(), "2026-11-25T10:00:00.123Z");
        assert_eq!(Millis::from_datetime(t.to_datetime()), t);
        assert_eq!(Millis::from_ms(-1).as_secs(), -1, "seconds round down");
        assert_eq!(Millis::from_secs(1_795_600_800).as_ms(), 1_795_600_800_000);
    }

    #[test]
    fn times_and_durations_add_up_and_an_earlier_time_is_no_negative_age() {
        let t = Millis::from_ms(10_000);
        assert_eq!(t + Duration::from_secs(5), Millis::from_ms(15_000));
        assert_eq!(t - Duration::from_secs(5), Millis::from_ms(5_000));
        assert_eq!(t - Millis::from_ms(4_000), Duration::from_secs(6));
        assert_eq!(Millis::from_ms(4_000) - t, Duration::ZERO);
        assert_eq!(Millis::MAX + Duration::from_secs(1), Millis::MAX);
        assert_eq!(t + Duration::MAX, Millis::MAX);
    }
}

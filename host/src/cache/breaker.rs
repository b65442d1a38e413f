//! A circuit breaker: after a failure, Redis is left alone for a retry interval, then one caller
//! probes it. A dead or black-holed Redis therefore costs one timeout per interval, not one per
//! request.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Closed (calls go through), open (calls are refused until `open_until`), or half-open (the
/// interval is over: exactly one caller probes; its result closes or re-opens the breaker).
#[derive(Debug)]
pub struct Breaker {
    /// Reference point for the atomics below.
    epoch: Instant,
    /// Microseconds after `epoch` until which calls are refused; 0 means closed.
    open_until: AtomicU64,
    /// A probe is under way (half-open).
    probing: AtomicBool,
    /// How long the breaker stays open after a failure.
    retry: Duration,
}

impl Breaker {
    /// A closed breaker that stays open for `retry` after each failure.
    pub fn new(retry: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            retry,
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Whether a call may go ahead now. While open, no; once the interval is over, yes for one
    /// caller at a time (the probe), no for the others.
    pub fn allow(&self) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        if self.now() < until {
            return false;
        }
        self.probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// A call succeeded. Returns `true` when this closed an open breaker.
    pub fn success(&self) -> bool {
        let was_open = self.open_until.swap(0, Ordering::AcqRel) != 0;
        self.probing.store(false, Ordering::Release);
        was_open
    }

    /// A call failed: open (again) for one interval. Returns `true` when the breaker was closed.
    pub fn failure(&self) -> bool {
        let until = self.now().saturating_add(
            u64::try_from(self.retry.as_micros())
                .unwrap_or(u64::MAX)
                .max(1),
        );
        let was_closed = self.open_until.swap(until, Ordering::AcqRel) == 0;
        self.probing.store(false, Ordering::Release);
        was_closed
    }

    /// Whether calls currently go through without restriction.
    pub fn is_closed(&self) -> bool {
        self.open_until.load(Ordering::Acquire) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failure_opens_for_the_interval_then_one_probe_decides() {
        let breaker = Breaker::new(Duration::from_millis(30));
        assert!(breaker.allow() && breaker.allow(), "closed: everyone goes");
        assert!(breaker.failure(), "the first failure opens it");
        assert!(!breaker.allow(), "open: nobody goes");
        assert!(!breaker.is_closed());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow(), "interval over: one probe");
        assert!(!breaker.allow(), "only one probe at a time");
        assert!(
            !breaker.failure(),
            "a failed probe re-opens an open breaker"
        );
        assert!(!breaker.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow());
        assert!(breaker.success(), "a successful probe closes it");
        assert!(breaker.is_closed() && breaker.allow() && breaker.allow());
        assert!(
            !breaker.success(),
            "closing a closed breaker is not a transition"
        );
    }
}

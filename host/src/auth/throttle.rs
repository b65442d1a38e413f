//! Login throttling per account and per client IP (token buckets from `governor`).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Two keyed limiters: one per lower-cased e-mail, one per client IP. Both must allow an attempt.
#[derive(Debug)]
pub struct LoginThrottle {
    per_account: DefaultKeyedRateLimiter<String>,
    per_ip: DefaultKeyedRateLimiter<String>,
}

impl LoginThrottle {
    /// Limits of `account` and `ip` attempts per minute (both at least 1).
    pub fn new(account_per_minute: u32, ip_per_minute: u32) -> Self {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            per_account: RateLimiter::keyed(quota(account_per_minute)),
            per_ip: RateLimiter::keyed(quota(ip_per_minute)),
        }
    }

    /// Takes one attempt from both buckets; `Err` holds how long to wait.
    pub fn check(&self, account: &str, ip: &str) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        self.per_ip
            .check_key(&ip.to_owned())
            .map_err(|n| n.wait_time_from(now))?;
        self.per_account
            .check_key(&account.to_owned())
            .map_err(|n| n.wait_time_from(now))?;
        Ok(())
    }

    /// Forgets idle keys so the maps do not grow without bound.
    pub fn prune(&self) {
        self.per_account.retain_recent();
        self.per_ip.retain_recent();
    }
}

//! Login throttling per account and per client IP, and of single sign-on starts per client IP
//! (token buckets from `governor`).

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

/// Single sign-on starts (`GET /auth/oidc/{provider}/login`) per client IP. Each start stores a
/// pending sign-in (and its vault entry) for ten minutes and sends the provider a request, so an
/// unthrottled client could fill the database and get the host's client blocked at the provider.
#[derive(Debug)]
pub struct SsoStartThrottle {
    per_ip: DefaultKeyedRateLimiter<String>,
}

impl SsoStartThrottle {
    /// At most `per_minute` starts a minute from one IP (at least 1).
    pub fn new(per_minute: u32) -> Self {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        Self {
            per_ip: RateLimiter::keyed(quota),
        }
    }

    /// Takes one start from `ip`'s bucket; `Err` holds how long to wait.
    pub fn check(&self, ip: &str) -> Result<(), Duration> {
        let now = DefaultClock::default().now();
        self.per_ip
            .check_key(&ip.to_owned())
            .map_err(|n| n.wait_time_from(now))
    }

    /// Forgets idle keys so the map does not grow without bound.
    pub fn prune(&self) {
        self.per_ip.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sso_starts_are_counted_per_ip() {
        let throttle = SsoStartThrottle::new(2);
        assert!(throttle.check("10.0.0.1").is_ok());
        assert!(throttle.check("10.0.0.1").is_ok());
        let wait = throttle
            .check("10.0.0.1")
            .expect_err("third start in a minute");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(
            throttle.check("10.0.0.2").is_ok(),
            "another address has its own bucket"
        );
    }
}

//! How a connection's credential is put on a plugin's requests: [`VaultCredential`], the
//! [`CredentialProvider`] of a vault secret, which asks [`Sessions`] for the headers and for a
//! renewal when the service refuses them.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::sessions::{SessionTarget, Sessions};
use crate::plugins::egress::{CredentialFuture, CredentialHeaders, RenewFuture};
use crate::plugins::CredentialProvider;

/// How long one call reuses a static credential's headers before reading the vault again.
///
/// Why reuse them at all: reading and decrypting the secret for every request cost 0.5 ms on
/// SQLite and 1.2 ms on PostgreSQL of a 15–17 ms JIRA page in the sync benchmark
/// (docs/PERFORMANCE.md). Why so briefly: a credential somebody replaces or deletes while a
/// sync runs is then used for at most this long by that sync. Sessions (OAuth, service
/// accounts, form logins) expire and are never reused: each request asks [`Sessions`].
pub const STATIC_REUSE: Duration = Duration::from_secs(1);

/// Puts a connection's credential on each request: static kinds straight from the vault,
/// session kinds through [`Sessions`], which renews them when they expire or are refused.
/// One provider serves one call (a sync of a stream, an action, a check).
pub struct VaultCredential {
    sessions: Arc<Sessions>,
    target: SessionTarget,
    /// A static credential's headers while [`STATIC_REUSE`] lets this call reuse them.
    recent: Mutex<Recent>,
}

/// The headers a call may reuse, and a count of the refusals it has seen: a vault read that
/// began before a refusal and ends after it may have read what was refused, so it is not kept
/// (its caller still sends it once, as it would have without reuse).
#[derive(Default)]
struct Recent {
    refusals: u64,
    kept: Option<(Instant, CredentialHeaders)>,
}

impl Recent {
    /// The headers read less than [`STATIC_REUSE`] ago, if any.
    fn reusable(&self) -> Option<CredentialHeaders> {
        (self.kept.as_ref())
            .filter(|(read, _)| read.elapsed() < STATIC_REUSE)
            .map(|(_, headers)| headers.clone())
    }

    /// Keeps `headers`, read by a vault read that began when [`Recent::refusals`] was
    /// `refusals_before`, unless a refusal came in meanwhile.
    fn keep(&mut self, refusals_before: u64, headers: CredentialHeaders) {
        if self.refusals == refusals_before {
            self.kept = Some((Instant::now(), headers));
        }
    }

    /// The service refused what was sent: nothing read so far is reused.
    fn refused(&mut self) {
        self.refusals += 1;
        self.kept = None;
    }
}

impl VaultCredential {
    /// The provider for a connection's secret.
    pub fn new(sessions: Arc<Sessions>, target: SessionTarget) -> Self {
        Self {
            sessions,
            target,
            recent: Mutex::new(Recent::default()),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for VaultCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VaultCredential(secret {})", self.target.secret_id)
    }
}

impl CredentialProvider for VaultCredential {
    fn headers(&self) -> CredentialFuture<'_> {
        Box::pin(async move {
            let refusals_before = {
                let recent = self.recent();
                if let Some(headers) = recent.reusable() {
                    return Ok(headers);
                }
                recent.refusals
            };
            let (headers, fixed) = self.sessions.headers(&self.target).await?;
            if fixed {
                self.recent().keep(refusals_before, headers.clone());
            }
            Ok(headers)
        })
    }

    fn renew<'a>(&'a self, sent: &'a http::HeaderMap) -> RenewFuture<'a> {
        self.recent().refused();
        Box::pin(self.sessions.renew_after_refusal(&self.target, sent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(token: &str) -> CredentialHeaders {
        vec![(
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {token}")).expect("header"),
        )]
    }

    #[test]
    fn a_read_that_spans_a_refusal_is_not_reused() {
        let mut recent = Recent::default();
        recent.keep(recent.refusals, headers("first"));
        assert_eq!(recent.reusable(), Some(headers("first")));
        // A read begins, the service refuses another request's token, the read ends.
        let before = recent.refusals;
        recent.refused();
        assert_eq!(recent.reusable(), None);
        recent.keep(before, headers("first"));
        assert_eq!(
            recent.reusable(),
            None,
            "what the read found may be what was refused"
        );
        // A read that begins after the refusal is reused again.
        recent.keep(recent.refusals, headers("second"));
        assert_eq!(recent.reusable(), Some(headers("second")));
    }
}

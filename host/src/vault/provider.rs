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
    /// A static credential's headers and when they were read ([`STATIC_REUSE`]).
    recent: Mutex<Option<(Instant, CredentialHeaders)>>,
}

impl VaultCredential {
    /// The provider for a connection's secret.
    pub fn new(sessions: Arc<Sessions>, target: SessionTarget) -> Self {
        Self {
            sessions,
            target,
            recent: Mutex::new(None),
        }
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Option<(Instant, CredentialHeaders)>> {
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
            let reused = (self.recent().as_ref())
                .filter(|(read, _)| read.elapsed() < STATIC_REUSE)
                .map(|(_, headers)| headers.clone());
            if let Some(headers) = reused {
                return Ok(headers);
            }
            let (headers, fixed) = self.sessions.headers(&self.target).await?;
            *self.recent() = fixed.then(|| (Instant::now(), headers.clone()));
            Ok(headers)
        })
    }

    fn renew<'a>(&'a self, sent: &'a http::HeaderMap) -> RenewFuture<'a> {
        // Refused: whatever was reused is read again next time.
        self.recent().take();
        Box::pin(self.sessions.renew_after_refusal(&self.target, sent))
    }
}

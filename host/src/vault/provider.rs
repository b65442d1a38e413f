//! How a connection's credential is put on a plugin's requests: [`VaultCredential`], the
//! [`CredentialProvider`] of a vault secret, which asks [`Sessions`] for the headers and for a
//! renewal when the service refuses them.

use std::sync::Arc;

use super::sessions::{SessionTarget, Sessions};
use crate::plugins::egress::{CredentialFuture, RenewFuture};
use crate::plugins::CredentialProvider;

/// Puts a connection's credential on each request: static kinds straight from the vault,
/// session kinds through [`Sessions`], which renews them when they expire or are refused.
pub struct VaultCredential {
    sessions: Arc<Sessions>,
    target: SessionTarget,
}

impl VaultCredential {
    /// The provider for a connection's secret.
    pub fn new(sessions: Arc<Sessions>, target: SessionTarget) -> Self {
        Self { sessions, target }
    }
}

impl std::fmt::Debug for VaultCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VaultCredential(secret {})", self.target.secret_id)
    }
}

impl CredentialProvider for VaultCredential {
    fn headers(&self) -> CredentialFuture<'_> {
        Box::pin(self.sessions.headers(&self.target))
    }

    fn renew<'a>(&'a self, sent: &'a http::HeaderMap) -> RenewFuture<'a> {
        Box::pin(self.sessions.renew_after_refusal(&self.target, sent))
    }
}

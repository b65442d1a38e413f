//! Sessions obtained from credentials, and renewing them one at a time.
//!
//! A session kind (OAuth, service account, form login) is stored in the vault with the session
//! the host obtained from it ([`StoredCredential`]). Requests carry the session while it is
//! usable; when it has expired, or the service refused it, it is renewed:
//!
//! - within a process, one task per credential renews while the others wait on a local lock
//!   and then read what it stored;
//! - across processes, a lease row in `credential_sessions` (taken with a guarded `UPDATE`) lets
//!   one host renew while the others poll the vault for the result;
//! - a renewed session, with the refresh token the provider may have rotated, is written to
//!   the vault before anything uses it, guarded by the ciphertext it replaces, so neither a key
//!   rotation nor a concurrently replaced credential is overwritten;
//! - a failed renewal is remembered for a while ([`REFUSED_BACKOFF`],
//!   [`UNAVAILABLE_BACKOFF`]) and answered from memory, so twenty waiting calls do not send
//!   twenty doomed requests, and a provider that detects refresh-token reuse is not provoked.
//!
//! Twenty concurrent calls on an expired token thus send exactly one refresh request, however
//! many host processes they are spread over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::header::{HeaderValue, AUTHORIZATION, COOKIE};
use sqlx::Row;
use zeroize::Zeroizing;

use super::credentials::{basic, CredentialInput, Session, StoredCredential};
use super::{flows, Stamp, Vault};
use crate::clock::{Clock, Millis};
use crate::plugins::egress::{Clients, CredentialHeaders};
use crate::plugins::CredentialError;
use crate::store::audit::NewAuditEntry;
use crate::store::Store;

/// How long a refused renewal is answered from memory (the credential needs a person).
pub const REFUSED_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// How long an unavailable provider is answered from memory.
pub const UNAVAILABLE_BACKOFF: Duration = Duration::from_secs(10);
/// How long a renewing host holds the lease; a host that dies holding it delays the others
/// this long at most.
const LEASE: Duration = Duration::from_secs(30);
/// How long a call waits for another host's renewal before giving up.
const WAIT: Duration = Duration::from_secs(35);

/// Whose credential, and where it is used.
#[derive(Debug, Clone)]
pub struct SessionTarget {
    /// The vault secret holding the credential.
    pub secret_id: i64,
    /// The connection, for audit entries.
    pub connection_id: i64,
    /// The connection's base URL (form logins post next to it).
    pub base_url: String,
    /// Whether the connection may reach private addresses (token endpoints included).
    pub allow_private: bool,
}

/// Renews and hands out sessions. One per host process.
pub struct Sessions {
    vault: Arc<Vault>,
    store: Store,
    clock: Arc<dyn Clock>,
    clients: Clients,
    /// This process's name in leases.
    holder: String,
    local: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("holder", &self.holder)
            .finish()
    }
}

/// What a renewal attempt ended in, for the lease row.
enum Outcome<'a> {
    Renewed,
    Failed(&'a CredentialError),
    Untouched,
}

impl Sessions {
    /// The session service of one host.
    pub fn new(vault: Arc<Vault>, store: Store, clock: Arc<dyn Clock>) -> Result<Self, String> {
        Ok(Self {
            vault,
            store,
            clock,
            clients: Clients::new()?,
            holder: uuid::Uuid::new_v4().to_string(),
            local: Mutex::default(),
        })
    }

    /// The HTTP client exchanges for `target` go out through.
    pub fn client(&self, allow_private: bool) -> &reqwest::Client {
        self.clients.for_network(allow_private)
    }

    async fn read(&self, secret_id: i64) -> Result<(StoredCredential, Stamp), CredentialError> {
        let (secret, stamp) = self
            .vault
            .get_stamped(secret_id)
            .await
            .map_err(|e| CredentialError::Unavailable(format!("vault: {e}")))?;
        let stored = StoredCredential::from_bytes(secret.expose()).map_err(|_| {
            CredentialError::Unavailable("the stored credential is unreadable".into())
        })?;
        Ok((stored, stamp))
    }

    /// The headers for the next request on `target`'s credential, renewing its session first
    /// when it has expired; and whether they are a static kind's (a token, a key, a user and
    /// password), which stay the same until somebody replaces the credential, unlike a
    /// session's, which expire.
    pub async fn headers(
        &self,
        target: &SessionTarget,
    ) -> Result<(CredentialHeaders, bool), CredentialError> {
        let (stored, _) = self.read(target.secret_id).await?;
        if !stored.credential.has_session() {
            return Ok((static_headers(&stored.credential)?, true));
        }
        if let Some(session) = stored
            .session
            .as_ref()
            .filter(|s| s.usable(self.clock.now_ms()))
        {
            return Ok((session_headers(session)?, false));
        }
        Ok((self.renew(target, None).await?, false))
    }

    /// A request sent with `sent` was refused: a renewed session's headers, unless the
    /// credential has none to renew.
    pub async fn renew_after_refusal(
        &self,
        target: &SessionTarget,
        sent: &http::HeaderMap,
    ) -> Result<Option<CredentialHeaders>, CredentialError> {
        let (stored, _) = self.read(target.secret_id).await?;
        if !stored.credential.has_session() {
            return Ok(None);
        }
        let refused = sent
            .get(AUTHORIZATION)
            .or_else(|| sent.get(COOKIE))
            .map(|v| Zeroizing::new(v.as_bytes().to_vec()));
        self.renew(target, refused.as_deref().map(Vec::as_slice))
            .await
            .map(Some)
    }

    /// Renews `target`'s session unless someone else already did: a session counts as new if
    /// it is usable and is not the one that was `refused`.
    async fn renew(
        &self,
        target: &SessionTarget,
        refused: Option<&[u8]>,
    ) -> Result<CredentialHeaders, CredentialError> {
        let id = target.secret_id;
        let local = {
            let mut map = self.local.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(id).or_default().clone()
        };
        let _one_at_a_time = local.lock().await;
        let waited = Instant::now();
        loop {
            let (stored, _) = self.read(id).await?;
            if let Some(headers) = self.fresh(&stored, refused)? {
                return Ok(headers);
            }
            if let Some(failure) = self.recent_failure(id).await? {
                return Err(failure);
            }
            if self.try_lease(id).await? {
                return self.renew_holding_lease(target, refused).await;
            }
            if waited.elapsed() > WAIT {
                return Err(CredentialError::Unavailable(
                    "another host has been renewing the session for too long".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn renew_holding_lease(
        &self,
        target: &SessionTarget,
        refused: Option<&[u8]>,
    ) -> Result<CredentialHeaders, CredentialError> {
        let id = target.secret_id;
        // Read again under the lease: another host may have finished just before we took it.
        let (stored, stamp) = match self.read(id).await {
            Ok(read) => read,
            Err(e) => {
                self.release(id, Outcome::Untouched).await;
                return Err(e);
            }
        };
        match self.fresh(&stored, refused) {
            Ok(Some(headers)) => {
                self.release(id, Outcome::Untouched).await;
                return Ok(headers);
            }
            Err(e) => {
                self.release(id, Outcome::Untouched).await;
                return Err(e);
            }
            Ok(None) => {}
        }
        let now = self.clock.now_ms();
        let renewed = flows::renew(
            self.client(target.allow_private),
            &stored.credential,
            stored.session.as_ref(),
            &target.base_url,
            now,
        )
        .await;
        match renewed {
            Ok(session) => {
                let headers = session_headers(&session);
                let saved = self.save(id, stored, stamp, session).await;
                let outcome = match &saved {
                    Ok(()) => Outcome::Renewed,
                    Err(e) => Outcome::Failed(e),
                };
                self.release(id, outcome).await;
                saved?;
                metrics::counter!("agentic_credential_renewals_total", "outcome" => "renewed")
                    .increment(1);
                headers
            }
            Err(e) => {
                let refused = matches!(e, CredentialError::Refused(_));
                if refused {
                    // A dead session is dropped, so nobody sends it again (a reused rotated
                    // refresh token can make a provider revoke the whole grant).
                    if let Some(session) = stored.session.as_ref() {
                        if session.refresh_token.is_some() || session.cookies.is_some() {
                            let _ = self
                                .save(
                                    id,
                                    StoredCredential {
                                        credential: stored.credential.clone(),
                                        session: None,
                                    },
                                    stamp,
                                    Session::default(),
                                )
                                .await;
                        }
                    }
                }
                self.release(id, Outcome::Failed(&e)).await;
                let outcome = if refused { "refused" } else { "unavailable" };
                metrics::counter!("agentic_credential_renewals_total", "outcome" => outcome)
                    .increment(1);
                tracing::warn!(
                    connection = target.connection_id,
                    kind = stored.credential.kind(),
                    "credential renewal failed: {e}"
                );
                let entry = NewAuditEntry {
                    actor_id: None,
                    action: "credential.renewal_failed",
                    target_type: Some("connection"),
                    target_id: Some(target.connection_id.to_string()),
                    ip: None,
                    detail: serde_json::json!({
                        "kind": stored.credential.kind(),
                        "refused": refused,
                        "reason": e.to_string(),
                    }),
                };
                if let Err(audit) = self.store.append_audit(entry, now).await {
                    tracing::error!("audit of a failed renewal not written: {audit}");
                }
                Err(e)
            }
        }
    }

    /// The headers of a session that can be used instead of renewing.
    fn fresh(
        &self,
        stored: &StoredCredential,
        refused: Option<&[u8]>,
    ) -> Result<Option<CredentialHeaders>, CredentialError> {
        let Some(session) = stored
            .session
            .as_ref()
            .filter(|s| s.usable(self.clock.now_ms()))
        else {
            return Ok(None);
        };
        let headers = session_headers(session)?;
        let same =
            refused.is_some_and(|sent| headers.iter().any(|(_, value)| value.as_bytes() == sent));
        Ok((!same).then_some(headers))
    }

    /// Stores a session with the credential it came from, unless the credential was replaced
    /// meanwhile; survives a key rotation in between by re-reading and writing again.
    async fn save(
        &self,
        id: i64,
        stored: StoredCredential,
        mut stamp: Stamp,
        session: Session,
    ) -> Result<(), CredentialError> {
        let credential = serde_json::to_vec(&stored.credential)
            .map(Zeroizing::new)
            .map_err(|e| CredentialError::Unavailable(e.to_string()))?;
        let session =
            (session.access_token.is_some() || session.cookies.is_some()).then_some(session);
        let bytes = StoredCredential {
            credential: stored.credential,
            session,
        }
        .to_bytes()
        .map_err(|e| CredentialError::Unavailable(e.to_string()))?;
        for _ in 0..5 {
            let written = self
                .vault
                .replace_if(id, &stamp, &bytes, self.clock.now_ms())
                .await
                .map_err(|e| CredentialError::Unavailable(format!("vault: {e}")))?;
            if written {
                return Ok(());
            }
            let (now_stored, now_stamp) = self.read(id).await?;
            let now_credential = serde_json::to_vec(&now_stored.credential)
                .map(Zeroizing::new)
                .map_err(|e| CredentialError::Unavailable(e.to_string()))?;
            if now_credential != credential {
                // Replaced by a person: their credential wins; this session is dropped.
                return Ok(());
            }
            stamp = now_stamp;
        }
        Err(CredentialError::Unavailable(
            "the credential kept changing while the session was stored".into(),
        ))
    }

    /// A failure of the last renewal that is recent enough to answer from memory.
    async fn recent_failure(&self, id: i64) -> Result<Option<CredentialError>, CredentialError> {
        let row = sqlx::query(
            "SELECT failure, refused, failed_at FROM credential_sessions WHERE secret_id = $1",
        )
        .bind(id)
        .fetch_optional(self.store.pool())
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let failure: Option<String> = row.try_get("failure").map_err(db)?;
        let failed_at: Option<Millis> = row.try_get("failed_at").map_err(db)?;
        let refused: i64 = row.try_get("refused").map_err(db)?;
        let (Some(failure), Some(at)) = (failure, failed_at) else {
            return Ok(None);
        };
        let backoff = if refused != 0 {
            REFUSED_BACKOFF
        } else {
            UNAVAILABLE_BACKOFF
        };
        if self.clock.now_ms() - at >= backoff {
            return Ok(None);
        }
        Ok(Some(if refused != 0 {
            CredentialError::Refused(failure)
        } else {
            CredentialError::Unavailable(failure)
        }))
    }

    async fn try_lease(&self, id: i64) -> Result<bool, CredentialError> {
        let now = self.clock.now_ms();
        sqlx::query(
            "INSERT INTO credential_sessions (secret_id, status, updated_at) VALUES ($1, 'pending', $2) \
             ON CONFLICT (secret_id) DO NOTHING",
        )
        .bind(id)
        .bind(now)
        .execute(self.store.pool())
        .await
        .map_err(db)?;
        let taken = sqlx::query(
            "UPDATE credential_sessions SET holder = $2, lease_until = $3 \
             WHERE secret_id = $1 AND (holder IS NULL OR lease_until < $4)",
        )
        .bind(id)
        .bind(&self.holder)
        .bind(now + LEASE)
        .bind(now)
        .execute(self.store.pool())
        .await
        .map_err(db)?
        .rows_affected();
        Ok(taken == 1)
    }

    async fn release(&self, id: i64, outcome: Outcome<'_>) {
        let now = self.clock.now_ms();
        let result = match outcome {
            Outcome::Renewed => {
                sqlx::query(
                    "UPDATE credential_sessions SET holder = NULL, lease_until = NULL, \
                     generation = generation + 1, status = 'active', failure = NULL, refused = 0, \
                     failed_at = NULL, updated_at = $3 WHERE secret_id = $1 AND holder = $2",
                )
                .bind(id)
                .bind(&self.holder)
                .bind(now)
                .execute(self.store.pool())
                .await
            }
            Outcome::Failed(e) => {
                let refused = matches!(e, CredentialError::Refused(_));
                sqlx::query(
                    "UPDATE credential_sessions SET holder = NULL, lease_until = NULL, \
                     status = $4, failure = $5, refused = $6, failed_at = $3, updated_at = $3 \
                     WHERE secret_id = $1 AND holder = $2",
                )
                .bind(id)
                .bind(&self.holder)
                .bind(now)
                .bind(if refused { "refused" } else { "failing" })
                .bind(e.to_string())
                .bind(i64::from(refused))
                .execute(self.store.pool())
                .await
            }
            Outcome::Untouched => {
                sqlx::query(
                    "UPDATE credential_sessions SET holder = NULL, lease_until = NULL \
                     WHERE secret_id = $1 AND holder = $2",
                )
                .bind(id)
                .bind(&self.holder)
                .execute(self.store.pool())
                .await
            }
        };
        if let Err(e) = result {
            // The lease expires on its own; nothing is lost but time.
            tracing::warn!("releasing a credential lease failed: {e}");
        }
    }

    /// Forgets what is known of a credential's session (after a person replaced it): the next
    /// request renews at once, without waiting out an earlier failure.
    pub async fn forget(&self, secret_id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM credential_sessions WHERE secret_id = $1")
            .bind(secret_id)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    /// Exchanges an authorization code for the first session of an authorization code
    /// credential and stores it; the credential must still be the one the flow started for.
    pub async fn authorize(
        &self,
        target: &SessionTarget,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<(), CredentialError> {
        let (stored, stamp) = self.read(target.secret_id).await?;
        let now = self.clock.now_ms();
        let session = flows::exchange_code(
            self.client(target.allow_private),
            &stored.credential,
            code,
            verifier,
            redirect_uri,
            now,
        )
        .await?;
        self.save(target.secret_id, stored, stamp, session).await?;
        sqlx::query(
            "INSERT INTO credential_sessions (secret_id, status, updated_at) VALUES ($1, 'active', $2) \
             ON CONFLICT (secret_id) DO UPDATE SET status = 'active', failure = NULL, refused = 0, \
             failed_at = NULL, generation = credential_sessions.generation + 1, updated_at = $2",
        )
        .bind(target.secret_id)
        .bind(now)
        .execute(self.store.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    /// The session state of a credential, for people: `active`, `pending` (never obtained, or
    /// an authorization code credential not yet authorized), `refused` or `failing` with why.
    pub async fn status(&self, secret_id: i64) -> Result<(String, Option<String>), sqlx::Error> {
        let row =
            sqlx::query("SELECT status, failure FROM credential_sessions WHERE secret_id = $1")
                .bind(secret_id)
                .fetch_optional(self.store.pool())
                .await?;
        Ok(match row {
            Some(row) => (row.try_get("status")?, row.try_get("failure")?),
            None => ("pending".into(), None),
        })
    }
}

fn db(e: sqlx::Error) -> CredentialError {
    CredentialError::Unavailable(format!("database: {e}"))
}

fn sensitive(value: &str) -> Result<HeaderValue, CredentialError> {
    let mut header = HeaderValue::try_from(value).map_err(|_| {
        CredentialError::Refused("the credential is not a valid header value".into())
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// The headers of a static credential.
fn static_headers(credential: &CredentialInput) -> Result<CredentialHeaders, CredentialError> {
    let value: Zeroizing<String> = match credential {
        CredentialInput::ApiToken { email, token } => basic(email, token),
        CredentialInput::Basic { username, password } => basic(username, password),
        CredentialInput::Bearer { token } => Zeroizing::new(format!("Bearer {token}")),
        _ => return Ok(Vec::new()),
    };
    Ok(vec![(AUTHORIZATION, sensitive(&value)?)])
}

/// The headers of a session: its bearer token or its cookies.
fn session_headers(session: &Session) -> Result<CredentialHeaders, CredentialError> {
    if let Some(token) = &session.access_token {
        let value = Zeroizing::new(format!("Bearer {token}"));
        return Ok(vec![(AUTHORIZATION, sensitive(&value)?)]);
    }
    if let Some(cookies) = &session.cookies {
        return Ok(vec![(COOKIE, sensitive(cookies)?)]);
    }
    Err(CredentialError::Refused(
        "the session holds nothing to send".into(),
    ))
}

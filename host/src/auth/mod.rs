//! Identity: who is calling, and is their session still good?
//!
//! People log in with e-mail and password and get a short-lived JWT access token plus an opaque
//! refresh token. The access token names a server-side session; every request checks that
//! session (and the user), so logout, deactivation, role changes and idle/absolute timeouts take
//! effect at once rather than when the token expires. The check reads both through the cache
//! (`Key::session`, `Key::user`), which every write of them invalidates — on every host before
//! the write returns with Redis, within the database bus's poll without it (see `cache`). The
//! `last_seen_at` touch (at most every 15 s) is decided on the database's row, never on a cached
//! one, and invalidates the cached row; a token's signature is verified once and remembered
//! (`tokens`). Refresh tokens rotate on every use and are
//! stored hashed; presenting a spent one revokes the whole session (it was copied by someone).
//!
//! Service accounts authenticate with API keys `agk_<prefix>_<secret>`: stored as a SHA-256
//! hash (the key has 256 bits of entropy, so a slow hash adds nothing), looked up by prefix,
//! compared in constant time, limited to scopes and an expiry.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::{Clock, Millis};
use crate::rbac::Permission;
use crate::store::audit::NewAuditEntry;
use crate::store::sessions::{RefreshOutcome, Session};
use crate::store::users::{User, UserKind};
use crate::store::{Store, StoreError};
use config::AuthConfig;

/// The `auth` section of the configuration.
pub mod config;
/// OpenID Connect single sign-on (relying party).
pub mod oidc;
/// Password hashing.
pub mod password;
/// The role of a person provisioned over SCIM, by the single sign-on role rules.
pub mod scim;
/// Login throttling.
pub mod throttle;
/// JWT access tokens.
pub mod tokens;

/// Why a caller is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown account, wrong password or deactivated account — deliberately one answer.
    #[error("invalid e-mail or password")]
    InvalidCredentials,
    /// Too many login attempts.
    #[error("too many login attempts")]
    Throttled(Duration),
    /// The credential is malformed, forged, expired or unknown.
    #[error("{0}")]
    InvalidToken(&'static str),
    /// The session timed out.
    #[error("{0}")]
    SessionExpired(&'static str),
    /// The session was ended (logout, admin action, refresh-token reuse).
    #[error("{0}")]
    SessionRevoked(&'static str),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking task (password hashing) panicked or was cancelled.
    #[error("the password check did not finish")]
    Blocking(#[from] tokio::task::JoinError),
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The account (person or service account) as read on this request.
    pub user: User,
    /// The login session, for people.
    pub session_id: Option<i64>,
    /// The API key, for service accounts.
    pub api_key_id: Option<i64>,
    /// Scopes of the API key; `None` for people (their role alone decides).
    pub scopes: Option<Vec<Permission>>,
}

impl Principal {
    /// Whether the role — and, for API keys, the key's scopes — grant `permission`.
    pub fn can(&self, permission: Permission) -> bool {
        self.user.role.grants(permission)
            && self
                .scopes
                .as_ref()
                .is_none_or(|scopes| scopes.contains(&permission))
    }
}

/// Where a request came from, for sessions, throttling and the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// Client IP, if known.
    pub ip: Option<String>,
    /// `User-Agent`, truncated.
    pub user_agent: Option<String>,
}

/// Tokens handed out by login and refresh.
#[derive(Debug)]
pub struct IssuedTokens {
    /// JWT access token.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// Opaque refresh token (shown once; stored hashed).
    pub refresh_token: String,
    /// The session.
    pub session: Session,
    /// The user.
    pub user: User,
}

/// A newly minted API key; `key` is shown to the admin once and never stored.
#[derive(Debug)]
pub struct MintedKey {
    /// Full key text.
    pub key: String,
    /// Public prefix (the lookup id inside the key).
    pub prefix: String,
    /// SHA-256 hex of `key`.
    pub hash: String,
}

/// Last-seen updates are skipped when the previous one is this recent, so busy sessions do not
/// write on every request; idle timeouts are accurate to this margin.
const TOUCH_EVERY: Duration = Duration::from_secs(15);

/// The same for API keys, whose `last_used_at` is shown to administrators to the minute.
const KEY_TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A lookup behind an access token; a session (or user) that is gone makes the token unknown.
fn known<T>(found: Result<T, StoreError>) -> Result<T, AuthError> {
    match found {
        Ok(found) => Ok(found),
        Err(StoreError::NotFound) => Err(AuthError::InvalidToken("unknown session")),
        Err(e) => Err(AuthError::Store(e)),
    }
}

/// The identity service shared by all handlers.
#[derive(Debug, Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    keys: tokens::TokenKeys,
    clock: Arc<dyn Clock>,
    /// `auth.idle_timeout_secs`.
    idle: Duration,
    /// `auth.absolute_timeout_secs`.
    absolute: Duration,
    throttle: throttle::LoginThrottle,
    sso_starts: throttle::SsoStartThrottle,
    oidc: oidc::Oidc,
}

pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 hex of a token (refresh tokens and API keys are stored this way).
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Creates a new API key text with its prefix and hash.
pub fn mint_api_key() -> MintedKey {
    let mut prefix_bytes = [0u8; 6];
    rand::rngs::OsRng.fill_bytes(&mut prefix_bytes);
    let prefix: String = prefix_bytes.iter().map(|b| format!("{b:02x}")).collect();
    let key = format!("agk_{prefix}_{}", random_token(32));
    let hash = token_hash(&key);
    MintedKey { key, prefix, hash }
}

impl Auth {
    /// Builds the service.
    pub fn new(
        store: Store,
        keys: tokens::TokenKeys,
        clock: Arc<dyn Clock>,
        config: AuthConfig,
    ) -> Self {
        let throttle = throttle::LoginThrottle::new(
            config.login_per_account_per_minute,
            config.login_per_ip_per_minute,
        );
        let sso_starts = throttle::SsoStartThrottle::new(config.login_per_ip_per_minute);
        let oidc = oidc::Oidc::new(&config.oidc, clock.clone());
        Self {
            inner: Arc::new(Inner {
                oidc,
                store,
                keys,
                clock,
                idle: Duration::from_secs(config.idle_timeout_secs),
                absolute: Duration::from_secs(config.absolute_timeout_secs),
                throttle,
                sso_starts,
            }),
        }
    }

    fn now(&self) -> Millis {
        self.inner.clock.now_ms()
    }

    /// Periodic housekeeping: forgets idle throttle buckets and deletes sessions (with their
    /// refresh tokens) that ended by absolute timeout more than a week ago; the week keeps recent
    /// history for investigating an incident. Returns how many sessions were deleted.
    pub async fn housekeeping(&self) -> Result<u64, AuthError> {
        self.inner.throttle.prune();
        self.inner.sso_starts.prune();
        let cutoff = self.now()
            - self
                .inner
                .absolute
                .saturating_add(Duration::from_secs(7 * 86_400));
        Ok(self.inner.store.purge_sessions(cutoff).await?)
    }

    /// Takes one single sign-on start from the client's per-IP allowance
    /// (`auth.login_per_ip_per_minute`, counted apart from password logins); `Err` holds how
    /// long to wait.
    pub fn check_sso_start(&self, client: &ClientInfo) -> Result<(), Duration> {
        let ip = client.ip.as_deref().unwrap_or("unknown");
        self.inner.sso_starts.check(ip)
    }

    /// Checks e-mail and password and starts a session.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<IssuedTokens, AuthError> {
        let email = email.trim().to_lowercase();
        let ip = client.ip.as_deref().unwrap_or("unknown");
        self.inner
            .throttle
            .check(&email, ip)
            .map_err(AuthError::Throttled)?;

        let found = self.inner.store.user_for_login(&email).await?;
        let hash = found.as_ref().and_then(|(_, h)| h.clone());
        let pw = password.to_owned();
        let valid =
            tokio::task::spawn_blocking(move || password::verify(&pw, hash.as_deref())).await?;
        let user = match found {
            Some((user, _)) if valid && user.is_active() => user,
            other => {
                let reason = match &other {
                    None => "unknown_account",
                    Some((u, _)) if !u.is_active() => "account_deactivated",
                    Some(_) => "wrong_password",
                };
                let target_id = other.map(|(u, _)| u.id.to_string());
                self.audit(NewAuditEntry {
                    actor_id: None,
                    action: "auth.login_failed",
                    target_type: Some("user"),
                    target_id,
                    ip: client.ip.clone(),
                    detail: serde_json::json!({ "email": email, "reason": reason }),
                })
                .await?;
                return Err(AuthError::InvalidCredentials);
            }
        };

        self.start_session(user, client, "auth.login", serde_json::json!({}))
            .await
    }

    /// The configured single sign-on providers.
    pub fn oidc(&self) -> &oidc::Oidc {
        &self.inner.oidc
    }

    /// Starts a session for a person already authenticated (by password, or by an identity
    /// provider), audited as `action` with `detail`; the same tokens whichever way they came.
    pub async fn start_session(
        &self,
        user: User,
        client: &ClientInfo,
        action: &'static str,
        detail: serde_json::Value,
    ) -> Result<IssuedTokens, AuthError> {
        let refresh_token = format!("art_{}", random_token(32));
        let now = self.now();
        let session = self
            .inner
            .store
            .create_session(
                user.id,
                client.ip.as_deref(),
                client.user_agent.as_deref(),
                &token_hash(&refresh_token),
                now,
            )
            .await?;
        self.audit(NewAuditEntry {
            actor_id: Some(user.id),
            action,
            target_type: Some("session"),
            target_id: Some(session.id.to_string()),
            ip: client.ip.clone(),
            detail,
        })
        .await?;
        self.issue(session, user, refresh_token, now)
    }

    /// Pairs a fresh access token with the refresh token just stored for `session`.
    fn issue(
        &self,
        session: Session,
        user: User,
        refresh_token: String,
        now: Millis,
    ) -> Result<IssuedTokens, AuthError> {
        let access_token = self.inner.keys.issue(user.id, session.id, now.as_secs())?;
        Ok(IssuedTokens {
            access_token,
            expires_in: self.inner.keys.ttl_secs(),
            refresh_token,
            session,
            user,
        })
    }

    /// Spends a refresh token for a new access and refresh token pair.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client: &ClientInfo,
    ) -> Result<IssuedTokens, AuthError> {
        let next = format!("art_{}", random_token(32));
        let now = self.now();
        let outcome = self
            .inner
            .store
            .rotate_refresh_token(&token_hash(refresh_token), &token_hash(&next), now)
            .await?;
        let session = match outcome {
            RefreshOutcome::Unknown => {
                return Err(AuthError::InvalidToken("unknown refresh token"))
            }
            RefreshOutcome::Reused(session) => {
                self.audit(NewAuditEntry {
                    actor_id: Some(session.user_id),
                    action: "auth.refresh_token_reused",
                    target_type: Some("session"),
                    target_id: Some(session.id.to_string()),
                    ip: client.ip.clone(),
                    detail: serde_json::json!({ "session_revoked": true }),
                })
                .await?;
                return Err(AuthError::SessionRevoked(
                    "refresh token was already used; the session has been revoked, log in again",
                ));
            }
            RefreshOutcome::Rotated(session) => session,
        };
        let (session, user) = self.inner.store.session_with_user(session.id).await?;
        self.check_session(&session, &user, now)?;
        self.issue(session, user, next, now)
    }

    /// Whether a session is usable at `now`.
    fn check_session(&self, session: &Session, user: &User, now: Millis) -> Result<(), AuthError> {
        if session.revoked_at.is_some() {
            return Err(AuthError::SessionRevoked(
                "session has been revoked; log in again",
            ));
        }
        if now - session.created_at >= self.inner.absolute {
            return Err(AuthError::SessionExpired(
                "session expired: maximum session lifetime reached; log in again",
            ));
        }
        if now - session.last_seen_at >= self.inner.idle {
            return Err(AuthError::SessionExpired(
                "session expired after inactivity; log in again",
            ));
        }
        if !user.is_active() {
            return Err(AuthError::InvalidToken("account is deactivated"));
        }
        Ok(())
    }

    /// Authenticates an `Authorization: Bearer …` credential: a JWT access token or an API key.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        if bearer.starts_with("agk_") {
            return self.authenticate_api_key(bearer).await;
        }
        if bearer.starts_with("aat_") {
            // An agent's runtime token speaks for the agent, not for a person or account.
            return Err(AuthError::InvalidToken(
                "an agent token is accepted only by the /api/v1/agent-runtime endpoints",
            ));
        }
        let now = self.now();
        let claims = self.inner.keys.verify(bearer, now.as_secs())?;
        let store = &self.inner.store;
        // Through the cache: every write that must act at once (revocation, role change,
        // deactivation) invalidates these keys, on every host before it returns with Redis
        // (within the database bus's poll without it).
        let session = known(store.cached_session(claims.sid).await)?;
        let user = known(store.cached_user(session.user_id).await)?;
        // A cached `last_seen_at` can be older than the database's (another host touched the
        // session since): once it is due for a touch — or, with a very short idle timeout, could
        // look idle — the decision is taken on the row as the database has it now.
        let (session, user) = if now - session.last_seen_at >= TOUCH_EVERY.min(self.inner.idle) {
            known(store.session_with_user(session.id).await)?
        } else {
            (session, user)
        };
        if claims.sub.parse::<i64>().ok() != Some(user.id) {
            return Err(AuthError::InvalidToken("token does not match its session"));
        }
        self.check_session(&session, &user, now)?;
        if now - session.last_seen_at >= TOUCH_EVERY {
            // Invalidates the cached row, so every host reads the new time on its next request.
            store.touch_session(session.id, now).await?;
        }
        Ok(Principal {
            user,
            session_id: Some(session.id),
            api_key_id: None,
            scopes: None,
        })
    }

    async fn authenticate_api_key(&self, key: &str) -> Result<Principal, AuthError> {
        let invalid = AuthError::InvalidToken("invalid API key");
        let mut parts = key.splitn(3, '_');
        let (Some("agk"), Some(prefix), Some(_)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid);
        };
        if prefix.len() != 12 || key.len() > 128 {
            return Err(invalid);
        }
        let Some((api_key, user)) = self.inner.store.api_key_by_prefix(prefix).await? else {
            return Err(invalid);
        };
        let presented = token_hash(key);
        if !bool::from(presented.as_bytes().ct_eq(api_key.key_hash.as_bytes())) {
            return Err(invalid);
        }
        let now = self.now();
        if api_key.revoked_at.is_some() {
            return Err(AuthError::InvalidToken("API key has been revoked"));
        }
        if api_key.expires_at <= now {
            return Err(AuthError::InvalidToken("API key has expired"));
        }
        if !user.is_active() || user.kind != UserKind::Service {
            return Err(AuthError::InvalidToken("service account is deactivated"));
        }
        let scopes: Vec<String> = serde_json::from_str(&api_key.scopes).unwrap_or_default();
        let scopes = scopes.iter().filter_map(|s| Permission::parse(s)).collect();
        // Like sessions: write `last_used_at` at most once a minute, decided here, so busy
        // service accounts do not take SQLite's write lock on every request.
        if api_key
            .last_used_at
            .is_none_or(|t| now - t >= KEY_TOUCH_EVERY)
        {
            self.inner.store.touch_api_key(api_key.id, now).await?;
        }
        Ok(Principal {
            user,
            session_id: None,
            api_key_id: Some(api_key.id),
            scopes: Some(scopes),
        })
    }

    /// Sessions of a user that are still live.
    pub async fn live_sessions(&self, user_id: i64) -> Result<Vec<Session>, AuthError> {
        let now = self.now();
        let (idle_after, created_after) = (now - self.inner.idle, now - self.inner.absolute);
        Ok(self
            .inner
            .store
            .live_sessions(user_id, idle_after, created_after)
            .await?)
    }

    async fn audit(&self, entry: NewAuditEntry) -> Result<(), AuthError> {
        Ok(self.inner.store.append_audit(entry, self.now()).await?)
    }
}

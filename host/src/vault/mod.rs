//! The credential vault: secrets encrypted at rest with age (X25519), the identity outside the
//! database.
//!
//! Each secret is one row of `vault_secrets`: the age ciphertext and the recipient (`age1…`) it
//! was encrypted to. The identity comes from `AGENTIC_VAULT_KEY` or from a key file (generated
//! on first start, mode 0600) next to which a rotation keeps `<file>.next` (the key being rotated
//! to) and `<file>.prev` (the key rotated from). Every key present is loaded, so a secret is
//! readable whatever moment a rotation stopped at; a host that meets a recipient it has no key
//! for reloads the files, so a rotation done by another process is picked up while serving.
//!
//! A missing or wrong key is a start-up error naming what is stored and what was found; a key is
//! only ever generated when no secret exists, so a lost key file can never be papered over by a
//! fresh one.
//!
//! Plaintext lives in [`Secret`], which zeroes its memory on drop and never prints itself.

/// Connection credentials: input and storage form.
pub mod credentials;
/// Token and login exchanges with providers.
pub mod flows;
/// A connection's credential on plugin requests: the vault's credential provider.
pub mod provider;
/// Sessions obtained from credentials: renewal, one at a time across hosts.
pub mod sessions;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::RwLock;

use age::secrecy::ExposeSecret;
use age::x25519::{Identity, Recipient};
use sqlx::Row;
use zeroize::Zeroizing;

use crate::clock::Millis;
use crate::store::{Store, StoreError};

/// A secret's plaintext: zeroed on drop, redacted in `Debug`.
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps plaintext bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The plaintext, for the one place that must use it (adding it to a request).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The stored form a secret was read from, to detect changes before writing it back.
#[derive(Clone)]
pub struct Stamp(Vec<u8>);

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stamp(..)")
    }
}

/// Why the vault cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key is missing, unreadable, malformed, or not the one the secrets were encrypted for.
    #[error("vault key: {0}")]
    Key(String),
    /// No such secret.
    #[error("secret not found")]
    NotFound,
    /// Encryption or decryption failed.
    #[error("vault crypto: {0}")]
    Crypto(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key file could not be written.
    #[error("vault key file: {0}")]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for VaultError {
    fn from(e: sqlx::Error) -> Self {
        VaultError::Store(e.into())
    }
}

type Result<T, E = VaultError> = std::result::Result<T, E>;

/// Where the identity comes from.
#[derive(Clone)]
pub enum KeySource {
    /// `AGENTIC_VAULT_KEY`: one `AGE-SECRET-KEY-1…` (rotation needs a key file).
    Env(String),
    /// A key file; `<file>.next` and `<file>.prev` are read too.
    File(PathBuf),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env(_) => f.write_str("KeySource::Env(<redacted>)"),
            KeySource::File(path) => write!(f, "KeySource::File({})", path.display()),
        }
    }
}

/// The identities in force: the one new secrets are encrypted to, and every one that decrypts.
struct KeyRing {
    current: Recipient,
    identities: HashMap<String, Identity>,
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn parse_identity(text: &str, whence: &str) -> Result<Identity> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default();
    Identity::from_str(line).map_err(|_| {
        VaultError::Key(format!(
            "{whence} does not hold an AGE-SECRET-KEY-1… identity"
        ))
    })
}

fn read_identity(path: &Path) -> Result<Option<Identity>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_identity(&text, &path.display().to_string()).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(VaultError::Key(format!("reading {}: {e}", path.display()))),
    }
}

/// Writes an identity to `path` with mode 0600, durably (file and directory synced).
fn write_identity(path: &Path, identity: &Identity) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = sibling(path, ".tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    let text = Zeroizing::new(format!(
        "# Agentic vault key: keep it secret, back it up apart from the database.\n# public: {}\n{}\n",
        identity.to_public(),
        identity.to_string().expose_secret()
    ));
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            d.sync_all()?;
        }
    }
    Ok(())
}

impl KeySource {
    /// Loads every key the source has. `Ok(None)` when a key file source has no file at all.
    fn load(&self) -> Result<Option<KeyRing>> {
        match self {
            KeySource::Env(text) => {
                let identity = parse_identity(text, "AGENTIC_VAULT_KEY")?;
                let current = identity.to_public();
                Ok(Some(KeyRing {
                    identities: HashMap::from([(current.to_string(), identity)]),
                    current,
                }))
            }
            KeySource::File(path) => {
                let main = read_identity(path)?;
                let next = read_identity(&sibling(path, ".next"))?;
                let prev = read_identity(&sibling(path, ".prev"))?;
                // While a rotation runs, new secrets go to the key being rotated to, so none is
                // left behind under the old one.
                let Some(current) = next.as_ref().or(main.as_ref()).map(Identity::to_public) else {
                    if prev.is_some() {
                        return Err(VaultError::Key(format!(
                            "{} is missing but {}.prev exists: restore the key file",
                            path.display(),
                            path.display()
                        )));
                    }
                    return Ok(None);
                };
                let identities = [main, next, prev]
                    .into_iter()
                    .flatten()
                    .map(|i| (i.to_public().to_string(), i))
                    .collect();
                Ok(Some(KeyRing {
                    current,
                    identities,
                }))
            }
        }
    }
}

/// What the vault holds, for `agentic vault status`.
#[derive(Debug, Clone)]
pub struct VaultStatus {
    /// The recipient new secrets are encrypted to.
    pub current: String,
    /// Secrets per recipient.
    pub secrets_by_key: Vec<(String, i64)>,
}

/// The vault of one host process.
pub struct Vault {
    store: Store,
    source: KeySource,
    keys: RwLock<KeyRing>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field(
                "source",
                &match &self.source {
                    KeySource::Env(_) => "env".to_owned(),
                    KeySource::File(p) => p.display().to_string(),
                },
            )
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Opens the vault: loads the key (generating a key file only while no secret exists) and
    /// checks that every stored secret can be decrypted with a loaded key.
    pub async fn open(store: Store, source: KeySource) -> Result<Self> {
        let keys = match source.load()? {
            Some(keys) => keys,
            None => {
                let stored = count(&store).await?;
                let KeySource::File(path) = &source else {
                    return Err(VaultError::Key("no key".into()));
                };
                if stored > 0 {
                    return Err(VaultError::Key(format!(
                        "the key file {} is missing but {stored} secrets are stored; restore the \
                         key file (or set AGENTIC_VAULT_KEY) — a new key could not read them",
                        path.display()
                    )));
                }
                let identity = Identity::generate();
                write_identity(path, &identity)?;
                tracing::info!(path = %path.display(), "generated a new vault key");
                source
                    .load()?
                    .ok_or_else(|| VaultError::Key("key file vanished".into()))?
            }
        };
        let vault = Self {
            store,
            source,
            keys: RwLock::new(keys),
        };
        let unknown: Vec<(String, i64)> = vault
            .status()
            .await?
            .secrets_by_key
            .into_iter()
            .filter(|(key, _)| !vault.read_keys().identities.contains_key(key))
            .collect();
        if !unknown.is_empty() {
            let detail: Vec<String> = unknown
                .iter()
                .map(|(key, n)| format!("{n} for {key}"))
                .collect();
            return Err(VaultError::Key(format!(
                "the loaded key ({}) cannot read the stored secrets ({}): wrong key file or \
                 AGENTIC_VAULT_KEY?",
                vault.read_keys().current,
                detail.join(", ")
            )));
        }
        Ok(vault)
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, KeyRing> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reloads the key files (another process may have rotated).
    fn reload(&self) -> Result<()> {
        if let Some(keys) = self.source.load()? {
            *self
                .keys
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
        }
        Ok(())
    }

    /// The recipient a new secret is encrypted to, reloading first so a rotation in progress
    /// elsewhere is honoured.
    fn encrypt(&self, plaintext: &[u8]) -> Result<(String, Vec<u8>)> {
        if matches!(self.source, KeySource::File(_)) {
            self.reload()?;
        }
        let keys = self.read_keys();
        let ciphertext = age::encrypt(&keys.current, plaintext)
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        Ok((keys.current.to_string(), ciphertext))
    }

    fn decrypt(&self, key_id: &str, ciphertext: &[u8]) -> Result<Secret> {
        if !self.read_keys().identities.contains_key(key_id) {
            self.reload()?;
        }
        let keys = self.read_keys();
        let identity = keys.identities.get(key_id).ok_or_else(|| {
            VaultError::Key(format!(
                "no key for recipient {key_id}; is the key file current?"
            ))
        })?;
        age::decrypt(identity, ciphertext)
            .map(Secret::new)
            .map_err(|e| VaultError::Crypto(e.to_string()))
    }

    /// Stores a new secret; returns its id.
    pub async fn put(&self, plaintext: &[u8], now: Millis) -> Result<i64> {
        let (key_id, ciphertext) = self.encrypt(plaintext)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO vault_secrets (key_id, ciphertext, created_at, updated_at) \
             VALUES ($1, $2, $3, $3) RETURNING id",
        )
        .bind(&key_id)
        .bind(&ciphertext)
        .bind(now)
        .fetch_one(self.store.pool())
        .await?;
        Ok(id)
    }

    /// Replaces a secret's plaintext.
    pub async fn replace(&self, id: i64, plaintext: &[u8], now: Millis) -> Result<()> {
        let (key_id, ciphertext) = self.encrypt(plaintext)?;
        let n = sqlx::query(
            "UPDATE vault_secrets SET key_id = $2, ciphertext = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(&key_id)
        .bind(&ciphertext)
        .bind(now)
        .execute(self.store.pool())
        .await?
        .rows_affected();
        if n == 0 {
            return Err(VaultError::NotFound);
        }
        Ok(())
    }

    /// Reads a secret.
    pub async fn get(&self, id: i64) -> Result<Secret> {
        let row = sqlx::query("SELECT key_id, ciphertext FROM vault_secrets WHERE id = $1")
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?
            .ok_or(VaultError::NotFound)?;
        let key_id: String = row.try_get("key_id")?;
        let ciphertext: Vec<u8> = row.try_get("ciphertext")?;
        self.decrypt(&key_id, &ciphertext)
    }

    /// Reads a secret with the ciphertext it came from, for [`Vault::replace_if`].
    pub async fn get_stamped(&self, id: i64) -> Result<(Secret, Stamp)> {
        let row = sqlx::query("SELECT key_id, ciphertext FROM vault_secrets WHERE id = $1")
            .bind(id)
            .fetch_optional(self.store.pool())
            .await?
            .ok_or(VaultError::NotFound)?;
        let key_id: String = row.try_get("key_id")?;
        let ciphertext: Vec<u8> = row.try_get("ciphertext")?;
        let secret = self.decrypt(&key_id, &ciphertext)?;
        Ok((secret, Stamp(ciphertext)))
    }

    /// Replaces a secret only if it is still what `stamp` was read from (no rotation, no other
    /// writer in between); `false` when it was not.
    pub async fn replace_if(
        &self,
        id: i64,
        stamp: &Stamp,
        plaintext: &[u8],
        now: Millis,
    ) -> Result<bool> {
        let (key_id, ciphertext) = self.encrypt(plaintext)?;
        let n = sqlx::query(
            "UPDATE vault_secrets SET key_id = $2, ciphertext = $3, updated_at = $4 \
             WHERE id = $1 AND ciphertext = $5",
        )
        .bind(id)
        .bind(&key_id)
        .bind(&ciphertext)
        .bind(now)
        .bind(&stamp.0)
        .execute(self.store.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Deletes a secret, and then its ciphertext from the database files ([`Store::scrub`]):
    /// a credential may stay valid at its service long after the connection is gone. The scrub
    /// runs after this returns: a WAL checkpoint waits for readers, and the caller (deleting a
    /// connection, say) must not.
    pub async fn delete(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM vault_secrets WHERE id = $1")
            .bind(id)
            .execute(self.store.pool())
            .await?;
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.scrub("vault_secrets", false).await {
                tracing::warn!("scrubbing a deleted secret from the database files failed: {e}");
            }
        });
        Ok(())
    }

    /// The current recipient and how many secrets each recipient holds.
    pub async fn status(&self) -> Result<VaultStatus> {
        let rows = sqlx::query(
            "SELECT key_id, COUNT(*) AS n FROM vault_secrets GROUP BY key_id ORDER BY key_id",
        )
        .fetch_all(self.store.pool())
        .await?;
        let secrets_by_key = rows
            .iter()
            .map(|r| Ok((r.try_get("key_id")?, r.try_get("n")?)))
            .collect::<Result<Vec<(String, i64)>, sqlx::Error>>()?;
        Ok(VaultStatus {
            current: self.read_keys().current.to_string(),
            secrets_by_key,
        })
    }

    /// Rotates to a new key while the host keeps serving:
    /// 1. a new identity is written to `<file>.next` (or the one a crashed rotation left there
    ///    is reused); from then on every host encrypts new secrets to it;
    /// 2. every secret under another key is re-encrypted to it, one row per transaction,
    ///    guarded by its old recipient so a concurrent change is not overwritten;
    /// 3. the database files are scrubbed of every old ciphertext ([`Store::scrub`]);
    /// 4. the key file becomes `<file>.prev` and `<file>.next` becomes the key file.
    ///
    /// A crash anywhere leaves every secret readable (the old and new keys are both on disk)
    /// and running the rotation again finishes it. `after_row` is called after each row (the
    /// tests use it to stop midway). Returns how many secrets were re-encrypted.
    pub async fn rotate(
        &self,
        now: Millis,
        mut after_row: impl FnMut(usize) -> bool,
    ) -> Result<usize> {
        let KeySource::File(path) = &self.source else {
            return Err(VaultError::Key(
                "rotation needs a key file; AGENTIC_VAULT_KEY cannot be rewritten by the host"
                    .into(),
            ));
        };
        let next_path = sibling(path, ".next");
        let next = match read_identity(&next_path)? {
            Some(identity) => identity,
            None => {
                let identity = Identity::generate();
                write_identity(&next_path, &identity)?;
                identity
            }
        };
        self.reload()?;
        let new_key = next.to_public().to_string();
        let mut done = 0;
        // Passes until nothing is left under another key: a secret written to the old key by a
        // host that had not yet seen `.next` is caught by the next pass.
        for _pass in 0..10 {
            let rows =
                sqlx::query("SELECT id, key_id FROM vault_secrets WHERE key_id <> $1 ORDER BY id")
                    .bind(&new_key)
                    .fetch_all(self.store.pool())
                    .await?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let (id, old): (i64, String) = (row.try_get("id")?, row.try_get("key_id")?);
                let ciphertext: Option<Vec<u8>> = sqlx::query_scalar(
                    "SELECT ciphertext FROM vault_secrets WHERE id = $1 AND key_id = $2",
                )
                .bind(id)
                .bind(&old)
                .fetch_optional(self.store.pool())
                .await?;
                let Some(ciphertext) = ciphertext else {
                    continue; // changed or deleted meanwhile: already under the new key, or gone
                };
                let plaintext = self.decrypt(&old, &ciphertext)?;
                let fresh = age::encrypt(&next.to_public(), plaintext.expose())
                    .map_err(|e| VaultError::Crypto(e.to_string()))?;
                // Guarded by the exact ciphertext read: a credential replaced meanwhile is left as
                // the new value (already under the new key, or picked up by the next pass).
                sqlx::query(
                    "UPDATE vault_secrets SET key_id = $3, ciphertext = $4, updated_at = $5 \
                 WHERE id = $1 AND key_id = $2 AND ciphertext = $6",
                )
                .bind(id)
                .bind(&old)
                .bind(&new_key)
                .bind(&fresh)
                .bind(now)
                .bind(&ciphertext)
                .execute(self.store.pool())
                .await?;
                done += 1;
                if !after_row(done) {
                    return Ok(done);
                }
            }
        }
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM vault_secrets WHERE key_id <> $1")
            .bind(&new_key)
            .fetch_one(self.store.pool())
            .await?;
        if left > 0 {
            return Err(VaultError::Key(format!(
                "{left} secrets kept changing under the old key; run the rotation again"
            )));
        }
        // Every ciphertext under an old key, and every one replaced or deleted before, goes from
        // the database files: the old key must open nothing that is left there.
        self.store.scrub("vault_secrets", true).await?;
        if path.exists() {
            std::fs::rename(path, sibling(path, ".prev"))?;
        }
        std::fs::rename(&next_path, path)?;
        sync_dir(path)?;
        self.reload()?;
        Ok(done)
    }
}

async fn count(store: &Store) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM vault_secrets")
        .fetch_one(store.pool())
        .await?)
}

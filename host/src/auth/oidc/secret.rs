//! Where a provider's client secret comes from: the configuration (`client_secret`, which the
//! environment variable `AGENTIC_AUTH__OIDC__PROVIDERS__<NAME>__CLIENT_SECRET` sets too), a file
//! (`client_secret_file`), or the vault (`client_secret_vault = true`).
//!
//! A vault-kept secret is put there by an administrator (`agentic oidc set-secret <name>`, which
//! reads it from standard input, or `PUT /api/v1/auth/oidc/<name>/client-secret`), encrypted with
//! age like every connection credential, and so it is in backups only as that ciphertext. It is
//! read at every use (sign-in start and callback), so setting it again — rotating it at the
//! provider — takes effect at the next sign-in on every host, without a restart. A provider
//! whose vault secret was never set fails its sign-ins with [`OidcError::SecretMissing`], which
//! says how to set it; the host starts regardless.
//!
//! The plaintext is never logged, returned or audited: it goes from the caller into the vault,
//! and from the vault into the token request.

use openidconnect::ClientSecret;

use super::config::ProviderConfig;
use super::OidcError;
use crate::clock::Millis;
use crate::store::Store;
use crate::vault::{Vault, VaultError};

/// Longest client secret accepted (providers issue 32 to 128 characters).
pub const MAX_SECRET_BYTES: usize = 4096;

/// Why `secret` is not acceptable as a client secret (`None`: it is). The text never includes
/// the secret.
pub fn problem(secret: &str) -> Option<String> {
    if secret.is_empty() {
        return Some("must not be empty".into());
    }
    if secret.len() > MAX_SECRET_BYTES {
        return Some(format!("must be at most {MAX_SECRET_BYTES} bytes"));
    }
    if secret.chars().any(char::is_control) {
        return Some("must not contain control characters (line breaks, tabs)".into());
    }
    None
}

/// Puts `secret` into the vault as `provider`'s client secret, replacing the one it had (the
/// same vault entry is re-encrypted, so nothing old stays behind). Returns whether one was
/// replaced. The caller checks [`problem`] first.
pub async fn set(
    store: &Store,
    vault: &Vault,
    provider: &str,
    secret: &str,
    now: Millis,
) -> Result<bool, VaultError> {
    if let Some(id) = store.oidc_client_secret_id(provider).await? {
        vault.replace(id, secret.as_bytes(), now).await?;
        store.touch_oidc_client_secret(provider, now).await?;
        return Ok(true);
    }
    let id = vault.put(secret.as_bytes(), now).await?;
    if store.add_oidc_client_secret(provider, id, now).await? {
        return Ok(false);
    }
    // Someone set it at the same moment: this one, the later, replaces theirs.
    vault.delete(id).await?;
    let existing = store
        .oidc_client_secret_id(provider)
        .await?
        .ok_or(VaultError::NotFound)?;
    vault.replace(existing, secret.as_bytes(), now).await?;
    store.touch_oidc_client_secret(provider, now).await?;
    Ok(true)
}

/// The client secret of a sign-in with the provider `name`, from wherever its configuration
/// says; `None` for a public client (no secret configured at all).
pub async fn resolve(
    store: &Store,
    vault: &Vault,
    name: &str,
    config: &ProviderConfig,
) -> Result<Option<ClientSecret>, OidcError> {
    if config.client_secret_vault {
        let id = store
            .oidc_client_secret_id(name)
            .await
            .map_err(VaultError::from)?
            .ok_or_else(|| OidcError::SecretMissing(name.to_owned()))?;
        let secret = vault.get(id).await?;
        let text = std::str::from_utf8(secret.expose()).map_err(|_| {
            OidcError::Misconfigured(
                name.to_owned(),
                "the vault's client secret is not text".into(),
            )
        })?;
        return Ok(Some(ClientSecret::new(text.to_owned())));
    }
    if let Some(secret) = &config.client_secret {
        return Ok(Some(ClientSecret::new(secret.clone())));
    }
    let Some(path) = &config.client_secret_file else {
        return Ok(None);
    };
    let text = tokio::fs::read_to_string(path).await.map_err(|e| {
        OidcError::Misconfigured(
            name.to_owned(),
            format!("client_secret_file {}: {e}", path.display()),
        )
    })?;
    Ok(Some(ClientSecret::new(text.trim_end().to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_one_line_of_bounded_text() {
        assert_eq!(problem("s3cr3t-from-the-provider"), None);
        assert!(problem("").is_some());
        assert!(problem("two\nlines").is_some());
        assert!(problem(&"x".repeat(MAX_SECRET_BYTES + 1)).is_some());
        assert!(!problem("two\nlines").unwrap_or_default().contains("two"));
    }
}

//! JWT access tokens, signed with Ed25519 (`alg: EdDSA`).
//!
//! Keys are PKCS#8 PEM files in the signing-key directory; the newest file signs, every file
//! verifies, and each token names its key in the `kid` header — so keys rotate by dropping a new
//! file in and removing the old one after one token lifetime. A directory without keys gets one
//! generated at start-up. Only `EdDSA` is accepted: `alg: none`, HMAC with the public key
//! (HS/RS confusion) and every other algorithm are refused before any signature check.
//!
//! A client sends the same token with every request for its whole lifetime, and the Ed25519
//! check is the largest single cost of an authenticated request once the session comes from
//! the cache (`docs/PERFORMANCE.md`). So the claims of a token whose signature verified are
//! remembered under the SHA-256 of the whole token text (a different byte anywhere is a
//! different key, and is verified in full), for at most a token lifetime; the times (`exp`,
//! `nbf`) are still checked on every request. Keys only change at start-up, so a remembered
//! verification never outlives its key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::AuthConfig;
use super::AuthError;

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Session id: every request checks that the session is still live.
    pub sid: i64,
    /// Issued at (seconds).
    pub iat: i64,
    /// Not valid before (seconds).
    pub nbf: i64,
    /// Expiry (seconds).
    pub exp: i64,
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
}

/// Verified tokens remembered at most: bounded memory (a few hundred bytes each) whatever the
/// number of clients; beyond it the least used are verified again.
const VERIFIED_MAX: u64 = 10_000;

/// The host's token keys.
pub struct TokenKeys {
    signing: SigningKey,
    verifying: HashMap<String, DecodingKey>,
    /// Claims of tokens whose signature verified, by the SHA-256 of the token.
    verified: moka::sync::Cache<[u8; 32], Claims>,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("signing_kid", &self.signing.kid)
            .field("verifying_kids", &self.verifying.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Key-loading failures (start-up only).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The directory or a key file could not be read or written.
    #[error("signing key {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not an Ed25519 PKCS#8 PEM key.
    #[error("signing key {0} is not an Ed25519 PKCS#8 PEM key")]
    Invalid(PathBuf),
}

fn kid_of(public: &[u8]) -> String {
    let digest = Sha256::digest(public);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(body).ok()
}

fn der_to_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes a fresh Ed25519 key into `dir`, readable by the owner only.
pub fn generate_key(dir: &Path) -> Result<PathBuf, KeyError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let rng = ring::rand::SystemRandom::new();
    let der = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Invalid(dir.into()))?;
    let pair =
        Ed25519KeyPair::from_pkcs8(der.as_ref()).map_err(|_| KeyError::Invalid(dir.into()))?;
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let path = dir.join(format!(
        "{stamp}-{}.pem",
        kid_of(pair.public_key().as_ref())
    ));
    write_private(&path, der_to_pem(der.as_ref()).as_bytes())?;
    Ok(path)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    file.write_all(bytes).map_err(io(path))
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    std::fs::write(path, bytes).map_err(io(path))
}

impl TokenKeys {
    /// Loads every `*.pem` key in `dir` (generating one if there is none); the file whose name
    /// sorts last — names start with a creation timestamp — signs.
    pub fn load_or_generate(dir: &Path, config: &AuthConfig) -> Result<Self, KeyError> {
        let mut files = list_pem(dir)?;
        if files.is_empty() {
            files.push(generate_key(dir)?);
        }
        files.sort();
        let mut verifying = HashMap::new();
        let mut signing = None;
        for path in &files {
            let pem = std::fs::read_to_string(path).map_err(io(path))?;
            let der = pem_to_der(&pem).ok_or_else(|| KeyError::Invalid(path.clone()))?;
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                .map_err(|_| KeyError::Invalid(path.clone()))?;
            let kid = kid_of(pair.public_key().as_ref());
            verifying.insert(
                kid.clone(),
                DecodingKey::from_ed_der(pair.public_key().as_ref()),
            );
            signing = Some(SigningKey {
                kid,
                encoding: EncodingKey::from_ed_der(&der),
            });
        }
        let signing = signing.ok_or_else(|| KeyError::Invalid(dir.to_owned()))?;
        let ttl_secs = i64::try_from(config.access_token_ttl_secs).unwrap_or(900);
        Ok(Self {
            signing,
            verifying,
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_MAX)
                .time_to_live(std::time::Duration::from_secs(
                    config.access_token_ttl_secs.max(1),
                ))
                .build(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl_secs,
        })
    }

    /// Lifetime of issued tokens in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// Issues an access token for a session.
    pub fn issue(&self, user_id: i64, session_id: i64, now_secs: i64) -> Result<String, AuthError> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            sid: session_id,
            iat: now_secs,
            nbf: now_secs,
            exp: now_secs + self.ttl_secs,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.signing.encoding)
            .map_err(|_| AuthError::InvalidToken("could not sign token"))
    }

    /// Verifies signature, algorithm, key id, issuer and audience — once per token, then from
    /// memory — and then times against `now`, on every call.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Claims, AuthError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let claims = match self.verified.get(&digest) {
            Some(claims) => claims,
            None => {
                let claims = self.verify_signature(token)?;
                self.verified.insert(digest, claims.clone());
                claims
            }
        };
        if claims.exp <= now_secs {
            return Err(AuthError::InvalidToken("access token expired; refresh it"));
        }
        if claims.nbf > now_secs + 30 {
            return Err(AuthError::InvalidToken("token not valid yet"));
        }
        Ok(claims)
    }

    /// Verifies signature, algorithm, key id, issuer and audience (not the times), every time:
    /// what [`TokenKeys::verify`] does on the first sight of a token.
    pub fn verify_signature(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::InvalidToken("malformed token"))?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::InvalidToken("token algorithm not accepted"));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(AuthError::InvalidToken("token signed by an unknown key"))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        // Times are checked by `verify` against the host clock (injectable in tests).
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Ok(jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                    AuthError::InvalidToken("wrong token issuer")
                }
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    AuthError::InvalidToken("wrong token audience")
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    AuthError::InvalidToken("bad token signature")
                }
                _ => AuthError::InvalidToken("invalid token"),
            })?
            .claims)
    }
}

fn list_pem(dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(KeyError::Io {
                path: dir.to_owned(),
                source: e,
            })
        }
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_some_and(|e| e == "pem") {
            out.push(path);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn keys() -> (tempfile::TempDir, TokenKeys) {
        let dir = tempfile::tempdir().expect("dir");
        let keys = TokenKeys::load_or_generate(dir.path(), &AuthConfig::default()).expect("keys");
        (dir, keys)
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let (_dir, keys) = keys();
        let token = keys.issue(7, 9, 1_000).expect("token");
        let claims = keys.verify(&token, 1_000).expect("first sight");
        assert_eq!((claims.sub.as_str(), claims.sid), ("7", 9));
        assert!(keys.verify(&token, 1_001).is_ok(), "remembered");
        let expired = keys.verify(&token, 1_000 + keys.ttl_secs());
        assert!(
            matches!(expired, Err(AuthError::InvalidToken(m)) if m.contains("expired")),
            "{expired:?}"
        );
    }

    #[test]
    fn a_token_differing_from_a_remembered_one_is_verified_in_full() {
        let (_dir, keys) = keys();
        let token = keys.issue(7, 9, 1_000).expect("token");
        keys.verify(&token, 1_000).expect("remembered");
        // The same header and claims with another signature, and the same token with a changed
        // claim: neither may borrow the remembered verification.
        let (signed, signature) = token.rsplit_once('.').expect("three parts");
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        let forged = format!("{signed}.{flipped}{}", &signature[1..]);
        let (header, rest) = token.split_once('.').expect("header");
        let (_, signature) = rest.split_once('.').expect("claims");
        let claims = URL_SAFE_NO_PAD.encode(
            serde_json::json!({"iss": "agentic", "aud": "agentic-api", "sub": "1", "sid": 9,
                "iat": 1_000, "nbf": 1_000, "exp": 2_000})
            .to_string(),
        );
        let escalated = format!("{header}.{claims}.{signature}");
        for bad in [forged, escalated] {
            let refused = keys.verify(&bad, 1_000);
            assert!(
                matches!(refused, Err(AuthError::InvalidToken(_))),
                "{refused:?}"
            );
        }
    }
}

//! Password hashing with argon2id at the OWASP-recommended parameters
//! (19 MiB memory, 2 iterations, 1 lane). Hashing is CPU-heavy, so callers run it on the
//! blocking thread pool.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn argon2() -> Argon2<'static> {
    // 19 * 1024 KiB, t = 2, p = 1: OWASP Password Storage Cheat Sheet, argon2id option 2.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`).
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// A password could not be hashed (argon2 refused its input, or the blocking task died).
#[derive(Debug, thiserror::Error)]
#[error("hashing a password: {0}")]
pub struct HashError(String);

/// [`hash`] on the blocking thread pool: argon2id takes tens of milliseconds of CPU by design,
/// which must not hold up an async worker.
pub async fn hash_off_thread(password: String) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| HashError(e.to_string()))?
        .map_err(|e| HashError(e.to_string()))
}

/// Checks a password against a PHC string; `None` (unknown user, no password) burns the same
/// time against a dummy hash so that response times do not reveal which accounts exist.
pub fn verify(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("dummy password for timing").unwrap_or_default());
    let (phc, real) = match phc {
        Some(p) => (p, true),
        None => (dummy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
        && real
}

/// Password rules: long enough to resist guessing, bounded so hashing stays cheap to refuse.
pub fn check_strength(password: &str, email: Option<&str>) -> Result<(), &'static str> {
    let chars = password.chars().count();
    if chars < 12 {
        return Err("must be at least 12 characters");
    }
    if chars > 256 {
        return Err("must be at most 256 characters");
    }
    if email.is_some_and(|e| password.eq_ignore_ascii_case(e)) {
        return Err("must not be the e-mail address");
    }
    Ok(())
}

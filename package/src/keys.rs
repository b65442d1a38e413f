//! A publisher's Ed25519 keys. The private key file is the base64 of its PKCS#8 document (what
//! `keygen` writes, mode 0600); the public key, `ed25519:<base64 of 32 bytes>`, is what
//! administrators trust and what a package names as its signer.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};

use crate::PackageError;

/// A publisher's public key, `ed25519:<base64 of 32 bytes>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Parses the `ed25519:<base64>` form.
    pub fn parse(s: &str) -> Result<Self, PackageError> {
        let bad = || {
            PackageError::Signature(
                "a publisher key looks like ed25519:<base64 of 32 bytes>".into(),
            )
        };
        let b64 = s.trim().strip_prefix("ed25519:").ok_or_else(bad)?;
        let bytes = B64.decode(b64).map_err(|_| bad())?;
        Ok(Self(bytes.try_into().map_err(|_| bad())?))
    }

    /// Whether `signature` is this key's over `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, self.0)
            .verify(message, signature)
            .is_ok()
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ed25519:{}", B64.encode(self.0))
    }
}

/// A publisher's signing key (PKCS#8), as `keygen` writes it.
#[derive(Debug)]
pub struct SigningKey(Ed25519KeyPair);

impl SigningKey {
    /// A new random key and its PKCS#8 encoding (base64), to be stored by the publisher.
    pub fn generate() -> Result<(Self, String), PackageError> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| PackageError::Signature("could not generate a key".into()))?;
        let key = Self::from_pkcs8(pkcs8.as_ref())?;
        Ok((key, B64.encode(pkcs8.as_ref())))
    }

    /// Reads the base64 PKCS#8 text of a key file.
    pub fn from_file_text(text: &str) -> Result<Self, PackageError> {
        let der = B64
            .decode(text.trim())
            .map_err(|_| PackageError::Signature("the key file is not base64 PKCS#8".into()))?;
        Self::from_pkcs8(&der)
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, PackageError> {
        Ed25519KeyPair::from_pkcs8(der)
            .map(Self)
            .map_err(|_| PackageError::Signature("not an Ed25519 PKCS#8 key".into()))
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.0.public_key().as_ref());
        PublicKey(bytes)
    }

    /// Signs `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).as_ref().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_text_forms() {
        let (key, pkcs8) = SigningKey::generate().expect("key");
        let again = SigningKey::from_file_text(&pkcs8).expect("reload");
        assert_eq!(again.public_key(), key.public_key());
        let text = key.public_key().to_string();
        assert!(text.starts_with("ed25519:"), "{text}");
        assert_eq!(PublicKey::parse(&text).expect("parse"), key.public_key());
        assert!(PublicKey::parse("ed25519:AAAA").is_err());
        assert!(SigningKey::from_file_text("not a key").is_err());
    }
}

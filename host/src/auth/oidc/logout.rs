//! OpenID Connect Back-Channel Logout 1.0: verifying the logout token a provider posts, with the
//! same keys and algorithm allow-list as its ID tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::JsonWebKey;
use serde_json::Value;

use super::{algorithms, Logout, Oidc, OidcError, IAT_MAX_AGE, IAT_SKEW};

/// The `events` member that makes a JWT a back-channel logout token.
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

impl Oidc {
    /// Verifies a back-channel logout token (Back-Channel Logout 1.0 §2.6).
    pub async fn verify_logout_token(&self, name: &str, token: &str) -> Result<Logout, OidcError> {
        let p = self.provider(name)?;
        let algs =
            algorithms(&p.config).map_err(|e| OidcError::Misconfigured(p.name.clone(), e))?;
        let bad = |why: &str| OidcError::InvalidToken(why.to_owned());
        let mut parts = token.split('.');
        let (Some(header), Some(body), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("not a signed JWT"));
        };
        let header: Value = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("unreadable header"))?;
        let alg: CoreJwsSigningAlgorithm = header
            .get("alg")
            .cloned()
            .and_then(|a| serde_json::from_value(a).ok())
            .ok_or_else(|| bad("unknown alg"))?;
        if !algs.contains(&alg) {
            return Err(bad("signing algorithm not allowed"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| bad("unreadable signature"))?;
        let kid = header.get("kid").and_then(Value::as_str);
        let message =
            &token.as_bytes()[..token.len() - token.rsplit('.').next().unwrap_or("").len() - 1];
        let mut metadata = self.metadata(p).await?;
        let mut retried = false;
        loop {
            let keys: Vec<&CoreJsonWebKey> = metadata
                .jwks()
                .keys()
                .iter()
                .filter(|k| kid.is_none() || k.key_id().map(|id| id.as_str()) == kid)
                .collect();
            if keys
                .iter()
                .any(|k| k.verify_signature(&alg, message, &signature).is_ok())
            {
                break;
            }
            if keys.is_empty() && !retried {
                retried = true;
                metadata = self.refetch_jwks(p).await?.0;
                continue;
            }
            return Err(bad("bad signature"));
        }
        let claims: Value = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("unreadable claims"))?;
        if claims.get("iss").and_then(Value::as_str) != Some(metadata.issuer().as_str()) {
            return Err(bad("iss is not the provider"));
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => *a == p.config.client_id,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(&p.config.client_id)),
            _ => false,
        };
        if !aud_ok {
            return Err(bad("aud is not this client"));
        }
        let now = self.clock.now_secs();
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("no iat"))?;
        if iat > now + IAT_SKEW || iat < now - IAT_MAX_AGE {
            return Err(bad("iat is out of range"));
        }
        if claims
            .get("exp")
            .and_then(Value::as_i64)
            .is_some_and(|exp| exp <= now)
        {
            return Err(bad("expired"));
        }
        if claims.get("jti").and_then(Value::as_str).is_none() {
            return Err(bad("no jti"));
        }
        if claims.get("nonce").is_some() {
            return Err(bad("a logout token must not carry a nonce"));
        }
        if claims
            .get("events")
            .and_then(|e| e.get(BACKCHANNEL_EVENT))
            .is_none_or(|e| !e.is_object())
        {
            return Err(bad("not a back-channel logout event"));
        }
        let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
        let idp_sid = claims.get("sid").and_then(Value::as_str).map(str::to_owned);
        if subject.is_none() && idp_sid.is_none() {
            return Err(bad("names neither sub nor sid"));
        }
        Ok(Logout {
            issuer: metadata.issuer().to_string(),
            subject,
            idp_sid,
        })
    }
}

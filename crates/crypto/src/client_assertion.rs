//! `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core §9): a
//! client proves itself with a JWT signed by a key from the JWKS it registered. Verified
//! with jsonwebtoken; ES256, ES384, RS256 and RS384 (SMART Backend Services asks for the
//! 384-bit ones).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::jwt::{token_error, TokenError, CLOCK_SKEW_SECS};

/// A public key from a client's registered JWKS (RFC 7517).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientJwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

impl ClientJwk {
    /// The algorithms this key can verify, and its decoding key; `None` for a key medvault
    /// cannot use (another type or curve, or missing members).
    fn decoding(&self) -> Option<(Vec<Algorithm>, DecodingKey)> {
        match (self.kty.as_str(), self.crv.as_deref()) {
            ("EC", Some(curve @ ("P-256" | "P-384"))) => {
                let key =
                    DecodingKey::from_ec_components(self.x.as_deref()?, self.y.as_deref()?).ok()?;
                let alg = match curve {
                    "P-256" => Algorithm::ES256,
                    _ => Algorithm::ES384,
                };
                Some((vec![alg], key))
            }
            ("RSA", _) => {
                let key = DecodingKey::from_rsa_components(self.n.as_deref()?, self.e.as_deref()?)
                    .ok()?;
                Some((vec![Algorithm::RS256, Algorithm::RS384], key))
            }
            _ => None,
        }
    }

    /// Whether medvault can verify signatures with this key.
    pub fn usable(&self) -> bool {
        self.decoding().is_some()
    }
}

/// The claims of a verified client assertion.
#[derive(Debug, Clone, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    pub exp: i64,
    pub jti: String,
}

#[derive(Deserialize)]
struct Subject {
    sub: String,
}

/// The `sub` an assertion claims, read *without* verifying it: only to find which
/// client's keys to verify it with.
pub fn claimed_subject(assertion: &str) -> Option<String> {
    let mut validation = Validation::new(Algorithm::ES256);
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Subject>(assertion, &DecodingKey::from_secret(&[]), &validation)
        .ok()
        .map(|data| data.claims.sub)
}

/// Verifies `assertion` against `keys`: signature (the header's `kid` picks the key, or
/// the only key), `aud` (the token endpoint), `exp` and `nbf` with the usual skew, and the
/// presence of `iss`, `sub`, `jti`. Matching `iss`/`sub` to the client is the caller's.
pub fn verify(
    keys: &[ClientJwk],
    assertion: &str,
    audience: &str,
) -> Result<AssertionClaims, TokenError> {
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| TokenError::Malformed)?;
    let candidates: Vec<&ClientJwk> = match &header.kid {
        Some(kid) => keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .collect(),
        None if keys.len() == 1 => keys.iter().collect(),
        None => Vec::new(),
    };
    let key = candidates.first().ok_or(TokenError::UnknownKey)?;
    let (algorithms, decoding) = key.decoding().ok_or(TokenError::UnknownKey)?;
    if !algorithms.contains(&header.alg) {
        return Err(TokenError::WrongAlgorithm);
    }
    let mut validation = Validation::new(header.alg);
    validation.leeway = CLOCK_SKEW_SECS;
    validation.validate_nbf = true;
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    jsonwebtoken::decode::<AssertionClaims>(assertion, &decoding, &validation)
        .map(|data| data.claims)
        .map_err(token_error)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jwt::SigningKey;

    fn jwk(key: &SigningKey) -> ClientJwk {
        let public = key.public_jwk();
        ClientJwk {
            kty: public.kty.clone(),
            kid: Some(public.kid.clone()),
            alg: Some(public.alg.clone()),
            crv: public.crv.clone(),
            x: public.x.clone(),
            y: public.y.clone(),
            n: None,
            e: None,
        }
    }

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    #[test]
    fn assertions_verify_only_with_the_registered_key_and_audience() {
        let key = SigningKey::generate("client-key".into()).unwrap();
        let other = SigningKey::generate("client-key".into()).unwrap();
        let claims = json!({"iss": "c1", "sub": "c1", "aud": "https://mv/oauth2/token",
            "exp": now() + 60, "jti": "j1"});
        let assertion = key.sign(&claims);
        assert_eq!(claimed_subject(&assertion).as_deref(), Some("c1"));
        let verified = verify(&[jwk(&key)], &assertion, "https://mv/oauth2/token").unwrap();
        assert_eq!((verified.sub.as_str(), verified.jti.as_str()), ("c1", "j1"));
        assert_eq!(
            verify(&[jwk(&other)], &assertion, "https://mv/oauth2/token").err(),
            Some(TokenError::BadSignature)
        );
        assert_eq!(
            verify(&[jwk(&key)], &assertion, "https://elsewhere/token").err(),
            Some(TokenError::WrongIssuerOrAudience)
        );
        let stale = key.sign(
            &json!({"iss": "c1", "sub": "c1", "aud": "https://mv/oauth2/token",
            "exp": now() - 3600, "jti": "j2"}),
        );
        assert_eq!(
            verify(&[jwk(&key)], &stale, "https://mv/oauth2/token").err(),
            Some(TokenError::Expired)
        );
        assert!(verify(&[jwk(&key)], "not.a.jwt", "https://mv/oauth2/token").is_err());
        assert!(claimed_subject("garbage").is_none());
    }
}

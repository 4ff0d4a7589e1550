//! JWS access tokens (RFC 7519) signed with ES256, and their verification (DESIGN.md §2.3);
//! ID tokens signed with ES256, or RS256 for clients that ask for it.
//!
//! The verifier picks the algorithm from its own key table by `kid`, never from the token
//! header, so `alg: none`, HMAC "confusion" and unknown keys are all refused.

use std::collections::HashMap;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{envelope, MasterKey};

/// RFC 7519 §4.1.4 leeway, the most DESIGN.md §2.3 allows.
pub const CLOCK_SKEW_SECS: u64 = 60;

/// A public key as published in the JWKS (RFC 7517): an EC P-256 key (RFC 7518 §6.2) or
/// an RSA key (§6.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
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
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

/// The size of generated RSA keys (NIST SP 800-57: 112-bit security).
const RSA_BITS: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("the signing key could not be generated")]
    Generate,
    #[error("the sealed signing key does not open under this master key")]
    Unseal,
    #[error("the signing key is malformed")]
    Malformed,
}

/// An ES256 (or, for ID tokens of clients that ask for it, RS256) private key with its
/// id. Only this crate sees the key bytes.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    /// PKCS#8 for EC keys, PKCS#1 for RSA keys: the form each is sealed in.
    der: Zeroizing<Vec<u8>>,
    public: PublicJwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn generate(kid: String) -> Result<Self, SigningKeyError> {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| SigningKeyError::Generate)?;
        Self::from_der(kid, Zeroizing::new(pkcs8.as_ref().to_vec()))
    }

    /// A new RSA key for RS256 (RustCrypto `rsa` generates it; `ring` signs with it).
    pub fn generate_rs256(kid: String) -> Result<Self, SigningKeyError> {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let key =
            rsa::RsaPrivateKey::new(&mut rng, RSA_BITS).map_err(|_| SigningKeyError::Generate)?;
        let der = key.to_pkcs1_der().map_err(|_| SigningKeyError::Generate)?;
        Self::from_der(kid, Zeroizing::new(der.as_bytes().to_vec()))
    }

    /// The algorithm this key signs with: `ES256` or `RS256`.
    pub fn alg(&self) -> &str {
        &self.public.alg
    }

    /// An EC key in PKCS#8, or an RSA key in PKCS#1.
    fn from_der(kid: String, der: Zeroizing<Vec<u8>>) -> Result<Self, SigningKeyError> {
        if let Ok(pair) =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &SystemRandom::new())
        {
            // SEC 1 uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
            let point = pair.public_key().as_ref();
            if point.len() != 65 || point[0] != 0x04 {
                return Err(SigningKeyError::Malformed);
            }
            let public = PublicJwk {
                kty: "EC".into(),
                crv: Some("P-256".into()),
                x: Some(URL_SAFE_NO_PAD.encode(&point[1..33])),
                y: Some(URL_SAFE_NO_PAD.encode(&point[33..])),
                n: None,
                e: None,
                kid: kid.clone(),
                alg: "ES256".into(),
                use_: "sig".into(),
            };
            return Ok(Self {
                encoding: EncodingKey::from_ec_der(&der),
                alg: Algorithm::ES256,
                kid,
                der,
                public,
            });
        }
        let pair = RsaKeyPair::from_der(&der).map_err(|_| SigningKeyError::Malformed)?;
        let components = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
        let public = PublicJwk {
            kty: "RSA".into(),
            crv: None,
            x: None,
            y: None,
            n: Some(URL_SAFE_NO_PAD.encode(&components.n)),
            e: Some(URL_SAFE_NO_PAD.encode(&components.e)),
            kid: kid.clone(),
            alg: "RS256".into(),
            use_: "sig".into(),
        };
        Ok(Self {
            encoding: EncodingKey::from_rsa_der(&der),
            alg: Algorithm::RS256,
            kid,
            der,
            public,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// The private key sealed under the master key, bound to its `kid`.
    pub fn seal(&self, master: &MasterKey) -> Vec<u8> {
        envelope::seal(master.key_bytes(), &seal_context(&self.kid), &self.der)
    }

    pub fn unseal(master: &MasterKey, kid: String, sealed: &[u8]) -> Result<Self, SigningKeyError> {
        let der = envelope::open(master.key_bytes(), &seal_context(&kid), sealed)
            .map_err(|_| SigningKeyError::Unseal)?;
        Self::from_der(kid, der)
    }

    /// A compact JWS of `claims` with `typ: at+jwt` (RFC 9068) and this key's `kid`.
    pub fn sign<T: Serialize>(&self, claims: &T) -> String {
        self.sign_typed(claims, "at+jwt")
    }

    /// A compact JWS of an OpenID Connect ID token (`typ: JWT`). Its audience is the client,
    /// so medvault's verifier (which checks `aud`) never takes it for an access token.
    pub fn sign_id_token<T: Serialize>(&self, claims: &T) -> String {
        self.sign_typed(claims, "JWT")
    }

    fn sign_typed<T: Serialize>(&self, claims: &T, typ: &str) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing with a valid key")
    }
}

fn seal_context(kid: &str) -> Vec<u8> {
    format!("medvault/v1/signing-key\0{kid}").into_bytes()
}

/// Why a token was refused. Deliberately coarse for clients; precise for tests and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token names no key, or a key this server does not know")]
    UnknownKey,
    #[error("the token's algorithm is not the one its key uses")]
    WrongAlgorithm,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued for another issuer or audience")]
    WrongIssuerOrAudience,
    #[error("the token lacks a required claim")]
    MissingClaim,
}

/// Verifies tokens against the published keys.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: HashMap<String, DecodingKey>,
    issuer: String,
    audience: String,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("kids", &self.keys.keys())
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    pub fn new<'a>(
        keys: impl IntoIterator<Item = &'a PublicJwk>,
        issuer: String,
        audience: String,
    ) -> Result<Self, SigningKeyError> {
        let keys = keys
            .into_iter()
            // Access tokens are ES256 only; RSA keys sign ID tokens, which clients verify.
            .filter(|jwk| {
                jwk.alg == "ES256" && jwk.kty == "EC" && jwk.crv.as_deref() == Some("P-256")
            })
            .map(|jwk| {
                let (x, y) = (
                    jwk.x.as_deref().unwrap_or_default(),
                    jwk.y.as_deref().unwrap_or_default(),
                );
                DecodingKey::from_ec_components(x, y)
                    .map(|key| (jwk.kid.clone(), key))
                    .map_err(|_| SigningKeyError::Malformed)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            keys,
            issuer,
            audience,
        })
    }

    /// Verifies signature, `iss`, `aud`, `exp`, `nbf` (60 s skew) and returns the claims.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            // `none` and other algorithms jsonwebtoken does not know fail to parse here.
            jsonwebtoken::errors::ErrorKind::Json(_) => TokenError::WrongAlgorithm,
            _ => TokenError::Malformed,
        })?;
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.get(&kid).ok_or(TokenError::UnknownKey)?;
        // The key table says ES256; the header must agree.
        if header.alg != Algorithm::ES256 {
            return Err(TokenError::WrongAlgorithm);
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = CLOCK_SKEW_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<T>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(token_error)
    }
}

/// jsonwebtoken's verdict as a [`TokenError`].
pub(crate) fn token_error(e: jsonwebtoken::errors::Error) -> TokenError {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::InvalidSignature | K::InvalidEcdsaKey | K::InvalidRsaKey(_) => TokenError::BadSignature,
        K::ExpiredSignature => TokenError::Expired,
        K::ImmatureSignature => TokenError::NotYetValid,
        K::InvalidIssuer | K::InvalidAudience => TokenError::WrongIssuerOrAudience,
        K::MissingRequiredClaim(_) => TokenError::MissingClaim,
        K::InvalidAlgorithm => TokenError::WrongAlgorithm,
        _ => TokenError::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn claims(exp_offset: i64) -> serde_json::Value {
        let now = now() as i64;
        json!({"iss": "https://mv", "aud": "https://mv", "sub": "u1", "iat": now, "nbf": now, "exp": now + exp_offset})
    }

    fn verifier(key: &SigningKey) -> TokenVerifier {
        TokenVerifier::new([key.public_jwk()], "https://mv".into(), "https://mv".into()).unwrap()
    }

    fn b64(value: serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    #[test]
    fn a_signed_token_verifies() {
        let key = SigningKey::generate("k1".into()).unwrap();
        let token = key.sign(&claims(600));
        let verified: serde_json::Value = verifier(&key).verify(&token).unwrap();
        assert_eq!(verified["sub"], "u1");
    }

    #[test]
    fn alg_none_and_hmac_are_refused() {
        let key = SigningKey::generate("k1".into()).unwrap();
        let body = b64(claims(600));
        let none = format!("{}.{body}.", b64(json!({"alg": "none", "kid": "k1"})));
        assert_eq!(
            verifier(&key).verify::<serde_json::Value>(&none),
            Err(TokenError::WrongAlgorithm)
        );
        // HS256 keyed with the public key: the classic algorithm-confusion forgery.
        let hs = jsonwebtoken::encode(
            &Header {
                kid: Some("k1".into()),
                ..Header::new(Algorithm::HS256)
            },
            &claims(600),
            &EncodingKey::from_secret(key.public_jwk().x.as_deref().unwrap().as_bytes()),
        )
        .unwrap();
        assert_eq!(
            verifier(&key).verify::<serde_json::Value>(&hs),
            Err(TokenError::WrongAlgorithm)
        );
    }

    #[test]
    fn unknown_kid_bad_signature_and_expiry_are_refused() {
        let key = SigningKey::generate("k1".into()).unwrap();
        let stranger = SigningKey::generate("k2".into()).unwrap();
        let v = verifier(&key);
        assert_eq!(
            v.verify::<serde_json::Value>(&stranger.sign(&claims(600))),
            Err(TokenError::UnknownKey)
        );
        let impostor = SigningKey::generate("k1".into()).unwrap();
        assert_eq!(
            v.verify::<serde_json::Value>(&impostor.sign(&claims(600))),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            v.verify::<serde_json::Value>(&key.sign(&claims(-61))),
            Err(TokenError::Expired)
        );
        // Within the 60 s skew an expired token still passes.
        assert!(v
            .verify::<serde_json::Value>(&key.sign(&claims(-30)))
            .is_ok());
    }

    #[test]
    fn sealed_keys_open_only_under_their_master_key_and_kid() {
        let master = MasterKey::generate();
        let key = SigningKey::generate("k1".into()).unwrap();
        let sealed = key.seal(&master);
        let opened = SigningKey::unseal(&master, "k1".into(), &sealed).unwrap();
        assert_eq!(opened.public_jwk(), key.public_jwk());
        assert!(SigningKey::unseal(&MasterKey::generate(), "k1".into(), &sealed).is_err());
        assert!(SigningKey::unseal(&master, "k2".into(), &sealed).is_err());
    }

    #[test]
    fn rs256_keys_seal_publish_and_sign_id_tokens_the_verifier_never_accepts() {
        let master = MasterKey::generate();
        let key = SigningKey::generate_rs256("r1".into()).unwrap();
        let opened = SigningKey::unseal(&master, "r1".into(), &key.seal(&master)).unwrap();
        let jwk = opened.public_jwk().clone();
        assert_eq!(
            (jwk.kty.as_str(), jwk.alg.as_str(), opened.alg()),
            ("RSA", "RS256", "RS256")
        );
        let token = opened.sign_id_token(&claims(60));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(
            (header.alg, header.typ.as_deref()),
            (Algorithm::RS256, Some("JWT"))
        );
        let public =
            DecodingKey::from_rsa_components(jwk.n.as_deref().unwrap(), jwk.e.as_deref().unwrap())
                .unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["https://mv"]);
        assert!(jsonwebtoken::decode::<serde_json::Value>(&token, &public, &validation).is_ok());
        // Access tokens are ES256 only: an RSA key in the JWKS verifies nothing here.
        let verifier =
            TokenVerifier::new([&jwk], "https://mv".into(), "https://mv".into()).unwrap();
        assert!(verifier.verify::<serde_json::Value>(&token).is_err());
    }
}

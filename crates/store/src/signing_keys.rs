use medvault_domain::UnixMillis;

use crate::StoreError;

/// Where a token-signing key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeyState {
    /// Published in the JWKS, not yet signing, so verifiers learn it before they meet it.
    Next,
    /// Signs new tokens.
    Active,
    /// No longer signs; published until its last token has expired.
    Retiring,
    /// Unpublished; kept for the record.
    Retired,
}

impl SigningKeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Next, Self::Active, Self::Retiring, Self::Retired]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    /// PKCS#8 private key sealed under the master key.
    pub sealed_private: Vec<u8>,
    /// The public key as a JWK (JSON text).
    pub public_jwk: String,
    pub state: SigningKeyState,
    pub created_at: UnixMillis,
    pub state_since: UnixMillis,
    /// For a retiring key: when its last token expires.
    pub publish_until: Option<UnixMillis>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
pub trait SigningKeyStore {
    /// Publishes a key. [`StoreError::Conflict`] when one is already `next` or `active`
    /// and this key claims that state: there is at most one of each.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;

    /// Every key not yet retired.
    async fn published_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// One transaction, among the keys of `new_next`'s algorithm: the active key starts
    /// retiring, published until `retiring_until`; the next key becomes active; `new_next`
    /// becomes next. [`StoreError::Conflict`] when another rotation got there first.
    async fn rotate_signing_keys(
        &self,
        new_next: &SigningKeyRecord,
        at: UnixMillis,
        retiring_until: UnixMillis,
    ) -> Result<(), StoreError>;

    /// Replaces a key's sealed private half (after a master-key rotation re-sealed it).
    async fn reseal_signing_key(&self, kid: &str, sealed_private: &[u8]) -> Result<(), StoreError>;

    /// Unpublishes retiring keys whose last token has expired; returns how many.
    async fn retire_signing_keys(&self, now: UnixMillis) -> Result<u64, StoreError>;
}

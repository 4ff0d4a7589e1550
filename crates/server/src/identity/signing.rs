//! Token-signing keys: bootstrap, rotation, the JWKS, and the verifier built from it.
//!
//! Life of a key (DESIGN.md §3): it is published as `next` one rotation before it signs,
//! so verifiers that cache the JWKS know it before they meet it; it is `active` while it
//! signs; after a rotation it is `retiring`, still published until every token it signed
//! has expired; then `retired`.

use std::sync::{Arc, RwLock};

use medvault_crypto::jwt::{PublicJwk, SigningKey, TokenVerifier, CLOCK_SKEW_SECS};
use medvault_crypto::MasterKey;
use medvault_domain::UnixMillis;
use medvault_store::{SigningKeyRecord, SigningKeyState, Store, StoreError};

use crate::identity::config::IdentityConfig;

#[derive(Debug, thiserror::Error)]
pub enum SigningKeysError {
    #[error("cannot load token-signing keys")]
    Store(#[from] StoreError),
    #[error("a token-signing key is unusable")]
    Key(#[from] medvault_crypto::jwt::SigningKeyError),
    #[error("no active token-signing key is published; run `medvault keys rotate`")]
    NoActiveKey,
}

#[derive(Debug)]
struct Loaded {
    signer: Arc<SigningKey>,
    /// The RS256 key for the ID tokens of clients that ask for RS256, once one has.
    rs256: Option<Arc<SigningKey>>,
    verifier: Arc<TokenVerifier>,
    jwks: Arc<Vec<PublicJwk>>,
}

/// The algorithm of access tokens and of ID tokens by default.
pub const ES256: &str = "ES256";
/// Offered for the ID tokens of clients that register for it (SMART requires it).
pub const RS256: &str = "RS256";

/// The keys this instance signs and verifies with, reloaded from the store periodically.
#[derive(Debug)]
pub struct SigningKeys {
    loaded: RwLock<Arc<Loaded>>,
    master: Arc<MasterKey>,
    issuer: String,
    audience: String,
}

impl SigningKeys {
    /// Loads the published keys, first creating an active and a next key on a new database.
    pub async fn load(
        store: &dyn Store,
        master: Arc<MasterKey>,
        config: &IdentityConfig,
    ) -> Result<Self, SigningKeysError> {
        bootstrap(store, &master, ES256, crate::clock::now()).await?;
        let loaded = build(store, &master, &config.issuer, &config.audience).await?;
        Ok(Self {
            loaded: RwLock::new(Arc::new(loaded)),
            master,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
        })
    }

    pub async fn reload(&self, store: &dyn Store) -> Result<(), SigningKeysError> {
        let loaded = build(store, &self.master, &self.issuer, &self.audience).await?;
        *self.loaded.write().expect("signing keys lock poisoned") = Arc::new(loaded);
        Ok(())
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .expect("signing keys lock poisoned")
            .clone()
    }

    pub fn signer(&self) -> Arc<SigningKey> {
        self.current().signer.clone()
    }

    pub fn verifier(&self) -> Arc<TokenVerifier> {
        self.current().verifier.clone()
    }

    pub fn jwks(&self) -> Arc<Vec<PublicJwk>> {
        self.current().jwks.clone()
    }

    /// The key that signs ID tokens with `alg`. RS256 keys are made on first demand (a
    /// client registering for them): then published, and rotated with the ES256 keys.
    pub async fn id_token_signer(
        &self,
        store: &dyn Store,
        alg: &str,
    ) -> Result<Arc<SigningKey>, SigningKeysError> {
        if alg != RS256 {
            return Ok(self.signer());
        }
        if let Some(key) = self.current().rs256.clone() {
            return Ok(key);
        }
        bootstrap(store, &self.master, RS256, crate::clock::now()).await?;
        self.reload(store).await?;
        self.current()
            .rs256
            .clone()
            .ok_or(SigningKeysError::NoActiveKey)
    }
}

/// A fresh key record in `state`, its private half sealed under the master key.
fn new_key(
    master: &MasterKey,
    alg: &str,
    state: SigningKeyState,
    at: UnixMillis,
) -> Result<SigningKeyRecord, SigningKeysError> {
    let kid = uuid::Uuid::new_v4().simple().to_string();
    let key = match alg {
        RS256 => SigningKey::generate_rs256(kid.clone())?,
        _ => SigningKey::generate(kid.clone())?,
    };
    Ok(SigningKeyRecord {
        kid,
        alg: key.alg().to_owned(),
        sealed_private: key.seal(master),
        public_jwk: serde_json::to_string(key.public_jwk()).expect("a JWK serializes"),
        state,
        created_at: at,
        state_since: at,
        publish_until: None,
    })
}

/// Creates an active and a next key of `alg` unless some are published already.
async fn bootstrap(
    store: &dyn Store,
    master: &MasterKey,
    alg: &str,
    at: UnixMillis,
) -> Result<(), SigningKeysError> {
    let published = store.published_signing_keys().await?;
    if published.iter().any(|r| r.alg == alg) {
        return Ok(());
    }
    for state in [SigningKeyState::Active, SigningKeyState::Next] {
        match store
            .insert_signing_key(&new_key(master, alg, state, at)?)
            .await
        {
            // Another instance bootstrapped concurrently; its key stands.
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

async fn build(
    store: &dyn Store,
    master: &MasterKey,
    issuer: &str,
    audience: &str,
) -> Result<Loaded, SigningKeysError> {
    let records = store.published_signing_keys().await?;
    let active = |alg: &str| {
        records
            .iter()
            .find(|r| r.state == SigningKeyState::Active && r.alg == alg)
    };
    let open = |r: &SigningKeyRecord| SigningKey::unseal(master, r.kid.clone(), &r.sealed_private);
    let signer = open(active(ES256).ok_or(SigningKeysError::NoActiveKey)?)?;
    let rs256 = active(RS256).map(open).transpose()?.map(Arc::new);
    let jwks = records
        .iter()
        .map(|r| serde_json::from_str::<PublicJwk>(&r.public_jwk))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| medvault_crypto::jwt::SigningKeyError::Malformed)?;
    let verifier = TokenVerifier::new(&jwks, issuer.to_owned(), audience.to_owned())?;
    Ok(Loaded {
        signer: Arc::new(signer),
        rs256,
        verifier: Arc::new(verifier),
        jwks: Arc::new(jwks),
    })
}

/// `medvault keys rotate`: for each algorithm in use, next becomes active, active starts
/// retiring, a new next is published. Returns the kid of the ES256 key that now signs.
pub async fn rotate(
    store: &dyn Store,
    master: &MasterKey,
    at: UnixMillis,
) -> Result<String, SigningKeysError> {
    bootstrap(store, master, ES256, at).await?;
    let published = store.published_signing_keys().await?;
    let next = |alg: &str| {
        published
            .iter()
            .find(|r| r.state == SigningKeyState::Next && r.alg == alg)
    };
    let promoted = next(ES256)
        .ok_or(SigningKeysError::NoActiveKey)?
        .kid
        .clone();
    // A retiring key signed tokens up to now; they live at most this much longer.
    let retiring_until =
        at.plus_secs(IdentityConfig::MAX_ACCESS_TOKEN_TTL_SECS + CLOCK_SKEW_SECS as i64);
    for alg in [ES256, RS256] {
        if next(alg).is_some() {
            let replacement = new_key(master, alg, SigningKeyState::Next, at)?;
            store
                .rotate_signing_keys(&replacement, at, retiring_until)
                .await?;
        }
    }
    Ok(promoted)
}

//! The identity context: users, roles, passwords, sessions, tokens and the JWKS.

pub mod api;
pub mod cli;
pub mod config;
pub mod hashing;
pub mod password_policy;
pub mod principal;
pub mod registration;
pub mod revocation;
pub mod sessions;
pub mod signing;
pub mod tokens;
pub mod users;

use std::sync::Arc;

use medvault_crypto::jwt::CLOCK_SKEW_SECS;
use medvault_crypto::MasterKey;
use medvault_store::Store;

use self::config::IdentityConfig;
use self::hashing::HashingPool;
use self::password_policy::PasswordPolicy;
use self::revocation::RevokedSessions;
use self::signing::{SigningKeys, SigningKeysError};

pub use self::principal::{Enrollee, PasswordChanger, Principal};

/// The identity context's long-lived parts, shared through `AppState`.
#[derive(Debug)]
pub struct Identity {
    pub config: IdentityConfig,
    /// Seals TOTP secrets at rest.
    pub totp_key: medvault_crypto::totp::TotpSealKey,
    pub hashing: HashingPool,
    pub policy: PasswordPolicy,
    pub keys: SigningKeys,
    pub revoked: RevokedSessions,
    /// The WebAuthn relying party of the public URL.
    pub passkeys: crate::mfa::webauthn::Passkeys,
    /// Signs browser cookies (the SSO session, CSRF tokens of the hosted pages).
    pub cookies: medvault_crypto::mac::MessageSigner,
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(transparent)]
    Keys(#[from] SigningKeysError),
    #[error("invalid Argon2 parameters")]
    HashParams(#[from] medvault_crypto::password::PasswordHashError),
    #[error(transparent)]
    Breached(#[from] crate::protect::breached::BreachError),
    #[error("cannot load revoked sessions")]
    Store(#[from] medvault_store::StoreError),
    #[error("cannot set up the breached-password service client: {0}")]
    BreachApi(String),
}

impl Identity {
    pub async fn start(
        store: &dyn Store,
        master: Arc<MasterKey>,
        config: IdentityConfig,
    ) -> Result<Self, IdentityError> {
        let totp_key = medvault_crypto::totp::TotpSealKey::derive(&master);
        let cookies =
            medvault_crypto::mac::MessageSigner::new(&master, medvault_crypto::KeyPurpose::Cookie);
        let keys = SigningKeys::load(store, master, &config).await?;
        let revoked = RevokedSessions::new(
            IdentityConfig::MAX_ACCESS_TOKEN_TTL_SECS + CLOCK_SKEW_SECS as i64,
        );
        revoked.refresh(store, crate::clock::now()).await?;
        Ok(Self {
            hashing: HashingPool::new(config.password.hash)?,
            policy: PasswordPolicy::load(
                config.password.min_score,
                &config.data_dir,
                config
                    .password
                    .breach_api
                    .clone()
                    .map(crate::protect::breach_api::BreachApi::new)
                    .transpose()
                    .map_err(|e| IdentityError::BreachApi(e.to_string()))?,
            )?,
            keys,
            revoked,
            totp_key,
            cookies,
            passkeys: crate::mfa::webauthn::Passkeys::new(&config.issuer),
            config,
        })
    }

    /// Picks up what other processes changed: revocations, rotated keys, expired keys.
    pub async fn sync(&self, store: &dyn Store) -> Result<(), IdentityError> {
        let now = crate::clock::now();
        self.revoked.refresh(store, now).await?;
        let retired = store.retire_signing_keys(now).await?;
        if retired > 0 {
            tracing::info!(
                retired,
                "retired token-signing keys whose tokens have all expired"
            );
        }
        self.keys.reload(store).await?;
        Ok(())
    }
}

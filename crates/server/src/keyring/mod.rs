//! Unsealing: pairs the master key from its provider with the database it belongs to.
//!
//! A database records the id of its master key on first start. From then on a missing
//! key is an error, never a silent new key (which would orphan every wrapped data key),
//! and a different key is refused before it can write anything.

pub mod rotate;

use std::path::Path;

use medvault_crypto::{EnvKeyProvider, FileKeyProvider, KeyProvider, KeyProviderError, MasterKey};
use medvault_domain::MasterKeyId;
use medvault_store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum UnsealError {
    #[error(
        "the database is sealed to master key {expected}, but {provider} holds no master key; \
         restore it (a new key cannot read existing data)"
    )]
    Missing {
        expected: MasterKeyId,
        provider: String,
    },
    #[error("wrong master key: the database is sealed to key {expected}, but {provider} holds key {found}")]
    Wrong {
        expected: MasterKeyId,
        found: MasterKeyId,
        provider: String,
    },
    #[error(transparent)]
    Provider(#[from] KeyProviderError),
    #[error("cannot read the database's master key record")]
    Store(#[from] StoreError),
}

/// `MEDVAULT_MASTER_KEY` when set, otherwise `<data-dir>/master.key`.
pub fn provider(data_dir: &Path) -> Box<dyn KeyProvider> {
    match EnvKeyProvider::from_env() {
        Some(env) => Box::new(env),
        None => Box::new(FileKeyProvider::in_data_dir(data_dir)),
    }
}

pub async fn unseal(
    store: &dyn Store,
    provider: &dyn KeyProvider,
) -> Result<MasterKey, UnsealError> {
    let key = match store.master_key_id().await? {
        Some(expected) => return verify(expected, provider.load()?, provider),
        None => match provider.load()? {
            Some(key) => key,
            None => {
                let key = provider.create()?;
                tracing::info!(master_key_id = %key.id(), provider = %provider.describe(), "created a new master key");
                key
            }
        },
    };
    match store.init_master_key_id(&key.id()).await {
        Ok(()) => Ok(key),
        // Another instance of a fleet sealed the database first: it must be the same key.
        Err(StoreError::Conflict) => match store.master_key_id().await? {
            Some(expected) => verify(expected, Some(key), provider),
            None => Err(UnsealError::Store(StoreError::Conflict)),
        },
        Err(err) => Err(err.into()),
    }
}

fn verify(
    expected: MasterKeyId,
    key: Option<MasterKey>,
    provider: &dyn KeyProvider,
) -> Result<MasterKey, UnsealError> {
    match key {
        None => Err(UnsealError::Missing {
            expected,
            provider: provider.describe(),
        }),
        Some(key) if key.id() == expected => Ok(key),
        Some(key) => Err(UnsealError::Wrong {
            expected,
            found: key.id(),
            provider: provider.describe(),
        }),
    }
}

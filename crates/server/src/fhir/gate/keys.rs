//! Data keys for the record store: unwrapped on first use and kept in a bounded cache.
//! An evicted key is dropped, and `DataKey` zeroizes itself on drop.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use medvault_crypto::blind_index::BlindIndexKey;
use medvault_crypto::{DataKey, MasterKey};
use medvault_domain::{Compartment, PatientId, WrappedDataKey};
use medvault_store::{Store, StoreError};

/// The reserved data-key slot of the blind-index root (see `medvault_crypto::blind_index`).
/// Like the system slot it is a UUID that no random (v4) Patient id can take.
pub const INDEX_ROOT_SLOT: PatientId = PatientId::from_u128(1);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("a data key could not be read")]
    Store(#[from] StoreError),
    #[error("a data key does not unwrap under the master key")]
    Unwrap,
}

#[derive(Debug)]
pub struct DataKeys {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    keys: HashMap<PatientId, Arc<DataKey>>,
    /// Insertion order, for first-in-first-out eviction.
    order: VecDeque<PatientId>,
    capacity: usize,
}

impl DataKeys {
    pub fn new(store: Arc<dyn Store>, master: Arc<MasterKey>, capacity: usize) -> Self {
        Self {
            store,
            master,
            cache: Mutex::new(Cache {
                capacity: capacity.max(1),
                ..Cache::default()
            }),
        }
    }

    /// The blind-index key, from a root created on first start (fleet-safe).
    pub async fn index_key(&self) -> Result<BlindIndexKey, KeyError> {
        Ok(BlindIndexKey::from_root(
            &*self.ensure(INDEX_ROOT_SLOT).await?,
        ))
    }

    /// Makes sure the system compartment's key exists, so writes never race to create it.
    pub async fn ensure_system_key(&self) -> Result<(), KeyError> {
        self.ensure(Compartment::System.key_slot())
            .await
            .map(|_| ())
    }

    async fn ensure(&self, slot: PatientId) -> Result<Arc<DataKey>, KeyError> {
        match self.get(slot).await {
            Err(KeyError::Store(StoreError::NotFound)) => {
                let (_, wrapped) = self.generate(slot);
                match self.store.insert_data_key(&wrapped).await {
                    // Another instance created it first: use theirs.
                    Ok(()) | Err(StoreError::Conflict) => self.get(slot).await,
                    Err(err) => Err(err.into()),
                }
            }
            other => other,
        }
    }

    /// The unwrapped key of `slot`.
    pub async fn get(&self, slot: PatientId) -> Result<Arc<DataKey>, KeyError> {
        if let Some(key) = self.lock().keys.get(&slot) {
            return Ok(key.clone());
        }
        let wrapped = self.store.data_key(slot).await?;
        let key = Arc::new(DataKey::unwrap(&self.master, &wrapped).map_err(|_| KeyError::Unwrap)?);
        self.remember(slot, key.clone());
        Ok(key)
    }

    /// A new key for `slot`, wrapped for storage. It is cached only once stored
    /// ([`DataKeys::remember`]), so a failed write leaves nothing behind.
    pub fn generate(&self, slot: PatientId) -> (Arc<DataKey>, WrappedDataKey) {
        let key = DataKey::generate();
        let wrapped = key.wrap(&self.master, slot);
        (Arc::new(key), wrapped)
    }

    pub fn remember(&self, slot: PatientId, key: Arc<DataKey>) {
        let mut cache = self.lock();
        if cache.keys.insert(slot, key).is_none() {
            cache.order.push_back(slot);
        }
        while cache.keys.len() > cache.capacity {
            let Some(oldest) = cache.order.pop_front() else {
                break;
            };
            cache.keys.remove(&oldest);
        }
    }

    /// Forgets a key, e.g. once it has been destroyed.
    pub fn forget(&self, slot: PatientId) {
        let mut cache = self.lock();
        cache.keys.remove(&slot);
        cache.order.retain(|s| *s != slot);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // The cache holds no invariant a panicking holder could break.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

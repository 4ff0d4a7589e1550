//! Data keys for the record store: unwrapped on first use and kept in a bounded cache.
//! An evicted key is dropped, and `DataKey` zeroizes itself on drop.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use medvault_crypto::blind_index::BlindIndexKey;
use medvault_crypto::{DataKey, KeyShare, MasterKey};
use medvault_domain::{AuditSubject, Compartment, PatientId, WrappedDataKey};
use medvault_store::{KeyShareRecord, Store, StoreError};

/// The reserved data-key slot of the blind-index root (see `medvault_crypto::blind_index`).
/// Like the system slot it is a UUID that no random (v4) Patient id can take.
pub const INDEX_ROOT_SLOT: PatientId = PatientId::from_u128(1);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("a data key could not be read")]
    Store(#[from] StoreError),
    #[error("a data key does not unwrap under the master key")]
    Unwrap,
    /// The patient's key share is gone: they were erased (or never existed).
    #[error("the patient's key share was destroyed")]
    Erased,
}

/// A patient's key share from the key vault, with the audit subject it keys.
#[derive(Debug)]
pub struct PatientShare {
    pub share: KeyShare,
    pub subject: AuditSubject,
}

#[derive(Debug)]
pub struct DataKeys {
    store: Arc<dyn Store>,
    vault: Arc<dyn Store>,
    master: Arc<MasterKey>,
    keys: Bounded<DataKey>,
    shares: Bounded<PatientShare>,
}

impl DataKeys {
    pub fn new(
        store: Arc<dyn Store>,
        vault: Arc<dyn Store>,
        master: Arc<MasterKey>,
        capacity: usize,
    ) -> Self {
        Self {
            store,
            vault,
            master,
            keys: Bounded::new(capacity),
            shares: Bounded::new(capacity),
        }
    }

    /// The blind-index key, from a root created on first start (fleet-safe).
    pub async fn index_key(&self) -> Result<BlindIndexKey, KeyError> {
        Ok(BlindIndexKey::from_root(
            &*self.ensure(INDEX_ROOT_SLOT).await?,
        ))
    }

    /// The key of research pseudonyms, from the same root (see
    /// [`BlindIndexKey::pseudonyms_from_root`]).
    pub async fn pseudonym_key(&self) -> Result<BlindIndexKey, KeyError> {
        Ok(BlindIndexKey::pseudonyms_from_root(
            &*self.ensure(INDEX_ROOT_SLOT).await?,
        ))
    }

    /// Makes sure the system compartment's key exists, so writes never race to create it.
    pub async fn ensure_system_key(&self) -> Result<(), KeyError> {
        self.ensure(Compartment::System.key_slot())
            .await
            .map(|_| ())
    }

    /// A key of a reserved (non-patient) slot, created on first use.
    async fn ensure(&self, slot: PatientId) -> Result<Arc<DataKey>, KeyError> {
        match self.get(slot).await {
            Err(KeyError::Store(StoreError::NotFound)) => {
                let (_, wrapped) = self.generate(slot, None);
                match self.store.insert_data_key(&wrapped).await {
                    // Another instance created it first: use theirs.
                    Ok(()) | Err(StoreError::Conflict) => self.get(slot).await,
                    Err(err) => Err(err.into()),
                }
            }
            other => other,
        }
    }

    /// The unwrapped key of `slot`; [`KeyError::Erased`] when its patient's share is gone.
    pub async fn get(&self, slot: PatientId) -> Result<Arc<DataKey>, KeyError> {
        if let Some(key) = self.keys.get(&slot) {
            return Ok(key);
        }
        let share = match has_share(slot) {
            true => Some(self.share(slot).await?.ok_or(KeyError::Erased)?),
            false => None,
        };
        let wrapped = self.store.data_key(slot).await?;
        let key = DataKey::unwrap(&self.master, &wrapped, share.as_ref().map(|s| &s.share))
            .map_err(|_| KeyError::Unwrap)?;
        let key = Arc::new(key);
        self.keys.put(slot, key.clone());
        Ok(key)
    }

    /// A new key for `slot`, wrapped for storage under the master key and `share`. It is
    /// cached only once stored ([`DataKeys::remember`]), so a failed write leaves nothing
    /// behind.
    pub fn generate(
        &self,
        slot: PatientId,
        share: Option<&PatientShare>,
    ) -> (Arc<DataKey>, WrappedDataKey) {
        let key = DataKey::generate();
        let wrapped = key.wrap(&self.master, slot, share.map(|s| &s.share));
        (Arc::new(key), wrapped)
    }

    pub fn remember(&self, slot: PatientId, key: Arc<DataKey>) {
        self.keys.put(slot, key);
    }

    /// The patient's key share, `None` when they have none (erased, or never written).
    pub async fn share(&self, patient: PatientId) -> Result<Option<Arc<PatientShare>>, KeyError> {
        if let Some(share) = self.shares.get(&patient) {
            return Ok(Some(share));
        }
        let record = match self.vault.key_share(patient).await {
            Ok(record) => record,
            Err(StoreError::NotFound) => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let share = Arc::new(PatientShare {
            share: KeyShare::from_bytes(&record.share).map_err(|_| KeyError::Unwrap)?,
            subject: AuditSubject(record.subject),
        });
        self.shares.put(patient, share.clone());
        Ok(Some(share))
    }

    /// The patient's key share, created in the key vault if they have none yet. A share
    /// whose records never get written is harmless: it opens nothing.
    pub async fn ensure_share(&self, patient: PatientId) -> Result<Arc<PatientShare>, KeyError> {
        if let Some(share) = self.share(patient).await? {
            return Ok(share);
        }
        let share = KeyShare::generate();
        let record = KeyShareRecord {
            patient,
            subject: share.audit_subject(patient),
            share: share.to_bytes(),
            created_at: crate::clock::now(),
        };
        match self.vault.insert_key_share(&record).await {
            // Another writer created it first: use theirs.
            Ok(()) | Err(StoreError::Conflict) => {
                self.share(patient).await?.ok_or(KeyError::Erased)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// How the audit trail names the patient; `None` once they are erased.
    pub async fn subject(&self, patient: PatientId) -> Result<Option<AuditSubject>, KeyError> {
        Ok(self.share(patient).await?.map(|s| s.subject.clone()))
    }

    /// Crypto-shredding: destroys the patient's share in the key vault, after which their
    /// data key opens nowhere, not even in a backup.
    pub async fn destroy(&self, patient: PatientId) -> Result<(), KeyError> {
        self.vault.destroy_key_share(patient).await?;
        self.forget(patient);
        Ok(())
    }

    /// Forgets a patient's cached keys, e.g. once they have been destroyed.
    pub fn forget(&self, patient: PatientId) {
        self.keys.remove(&patient);
        self.shares.remove(&patient);
    }

    /// Gives a data key from before key shares existed (wrapped by the KEK alone) a share,
    /// and re-wraps it under both. `false` when the key is not such a key: its share was
    /// destroyed, so it opens under nothing.
    pub async fn adopt_legacy(&self, patient: PatientId) -> Result<bool, KeyError> {
        let wrapped = self.store.data_key(patient).await?;
        if wrapped.master_key_id != self.master.id() {
            // Under another master key (an interrupted rotation?): nothing to conclude.
            return Err(KeyError::Unwrap);
        }
        let Ok(key) = DataKey::unwrap(&self.master, &wrapped, None) else {
            return Ok(false);
        };
        let share = self.ensure_share(patient).await?;
        let rewrapped = key.wrap(&self.master, patient, Some(&share.share));
        match self
            .store
            .rewrap_data_key(&wrapped.master_key_id, &rewrapped)
            .await
        {
            // Another instance adopted it meanwhile, under the same share.
            Ok(()) | Err(StoreError::Conflict) => Ok(true),
            Err(err) => Err(err.into()),
        }
    }

    pub fn vault(&self) -> &Arc<dyn Store> {
        &self.vault
    }
}

/// Patient slots are wrapped with the patient's share; the reserved slots are not.
pub fn has_share(slot: PatientId) -> bool {
    slot != Compartment::SYSTEM_KEY_SLOT && slot != INDEX_ROOT_SLOT
}

/// A bounded first-in-first-out cache. Evicted values are dropped (keys zeroize on drop).
struct Bounded<V> {
    inner: Mutex<BoundedInner<V>>,
}

struct BoundedInner<V> {
    values: HashMap<PatientId, Arc<V>>,
    /// Insertion order, for first-in-first-out eviction.
    order: VecDeque<PatientId>,
    capacity: usize,
}

/// Names no patient: only how full it is.
impl<V> std::fmt::Debug for Bounded<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bounded")
            .field("len", &self.lock().values.len())
            .finish_non_exhaustive()
    }
}

impl<V> Bounded<V> {
    fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(BoundedInner {
                values: HashMap::new(),
                order: VecDeque::new(),
                capacity: capacity.max(1),
            }),
        }
    }

    fn get(&self, slot: &PatientId) -> Option<Arc<V>> {
        self.lock().values.get(slot).cloned()
    }

    fn put(&self, slot: PatientId, value: Arc<V>) {
        let mut cache = self.lock();
        if cache.values.insert(slot, value).is_none() {
            cache.order.push_back(slot);
        }
        while cache.values.len() > cache.capacity {
            let Some(oldest) = cache.order.pop_front() else {
                break;
            };
            cache.values.remove(&oldest);
        }
    }

    fn remove(&self, slot: &PatientId) {
        let mut cache = self.lock();
        cache.values.remove(slot);
        cache.order.retain(|s| s != slot);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BoundedInner<V>> {
        // The cache holds no invariant a panicking holder could break.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

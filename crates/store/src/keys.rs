use medvault_domain::{MasterKeyId, PatientId, WrappedDataKey};

use crate::StoreError;

/// Per-patient data keys, stored wrapped (DESIGN.md §3). Destroying one crypto-shreds
/// every record and backup encrypted under it.
#[async_trait::async_trait]
pub trait DataKeyStore {
    /// [`StoreError::Conflict`] when the patient already has a key.
    async fn insert_data_key(&self, key: &WrappedDataKey) -> Result<(), StoreError>;

    /// [`StoreError::NotFound`] when the patient has no key (never had one, or it was destroyed).
    async fn data_key(&self, patient: PatientId) -> Result<WrappedDataKey, StoreError>;

    /// Replaces a key's wrapping during KEK rotation, only if it is still wrapped by
    /// `expected`; otherwise [`StoreError::Conflict`], so two rotations never interleave.
    async fn rewrap_data_key(
        &self,
        expected: &MasterKeyId,
        rewrapped: &WrappedDataKey,
    ) -> Result<(), StoreError>;

    /// Up to `limit` keys still wrapped by `master`, for rotating in batches.
    async fn data_keys_wrapped_by(
        &self,
        master: &MasterKeyId,
        limit: u32,
    ) -> Result<Vec<WrappedDataKey>, StoreError>;

    /// The slots that have keys, in order, after `after`: for sweeping every key.
    async fn data_key_slots(
        &self,
        after: Option<PatientId>,
        limit: u32,
    ) -> Result<Vec<PatientId>, StoreError>;

    /// Crypto-shredding. [`StoreError::NotFound`] when there is no key to destroy.
    async fn destroy_data_key(&self, patient: PatientId) -> Result<(), StoreError>;
}

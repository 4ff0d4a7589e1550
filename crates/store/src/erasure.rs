//! Erasure (GDPR Art. 17) by crypto-shredding: the key vault's per-patient key shares, and
//! the records database's legal holds and erasure queue.

use medvault_domain::{FhirId, PatientId, ResourceType, UnixMillis, UserId};
use zeroize::Zeroizing;

use crate::StoreError;

/// A patient's erasable key share as the key vault stores it (see
/// `medvault_crypto::KeyShare`), with the audit subject it keys.
pub struct KeyShareRecord {
    pub patient: PatientId,
    pub share: Zeroizing<Vec<u8>>,
    pub subject: String,
    pub created_at: UnixMillis,
}

impl std::fmt::Debug for KeyShareRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyShareRecord")
            .field("patient", &self.patient)
            .finish_non_exhaustive()
    }
}

/// The key vault: kept apart from the records database (its own file on SQLite), so that
/// destroying a share reaches every backup of the records.
#[async_trait::async_trait]
pub trait KeyShareStore {
    /// [`StoreError::Conflict`] when the patient has a share already.
    async fn insert_key_share(&self, share: &KeyShareRecord) -> Result<(), StoreError>;

    /// [`StoreError::NotFound`] when the patient has none: never had one, or was erased.
    async fn key_share(&self, patient: PatientId) -> Result<KeyShareRecord, StoreError>;

    /// The patients behind those of `subjects` whose shares still exist.
    async fn patients_by_subject(
        &self,
        subjects: &[String],
    ) -> Result<Vec<(String, PatientId)>, StoreError>;

    /// Those of `patients` that have a share.
    async fn patients_with_shares(
        &self,
        patients: &[PatientId],
    ) -> Result<Vec<PatientId>, StoreError>;

    /// Destroys the share and records, in the same transaction, that the patient was
    /// erased (so rows that come back with a restored backup are recognised); succeeds
    /// when there is no share (erasure resumes idempotently).
    async fn destroy_key_share(&self, patient: PatientId) -> Result<(), StoreError>;

    /// Whether the vault records the patient's erasure.
    async fn was_erased(&self, patient: PatientId) -> Result<bool, StoreError>;
}

/// A hold that keeps a patient's records from erasure (GDPR Art. 17(3): retention duties
/// under medical-records law can outrank the right to erasure).
#[derive(Clone, PartialEq, Eq)]
pub struct LegalHold {
    pub patient: PatientId,
    /// Free text from an administrator: stored, never written to the audit trail or logs.
    pub reason: String,
    pub placed_by: UserId,
    pub placed_at: UnixMillis,
}

impl std::fmt::Debug for LegalHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegalHold")
            .field("patient", &self.patient)
            .field("placed_by", &self.placed_by)
            .field("placed_at", &self.placed_at)
            .finish_non_exhaustive()
    }
}

/// What completing an erasure deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErasedRows {
    pub resources: u64,
    pub versions: u64,
    pub users: u64,
}

#[async_trait::async_trait]
pub trait ErasureStore {
    /// Places a hold, or replaces the reason of the one in place. [`StoreError::Conflict`]
    /// when the patient's erasure is under way. Serialised against [`Self::begin_erasure`]
    /// for the same patient, so of a hold and an erasure at once exactly one wins.
    async fn place_legal_hold(&self, hold: &LegalHold) -> Result<(), StoreError>;

    /// [`StoreError::NotFound`] when there is no hold.
    async fn release_legal_hold(&self, patient: PatientId) -> Result<(), StoreError>;

    async fn legal_hold(&self, patient: PatientId) -> Result<Option<LegalHold>, StoreError>;

    /// Every hold in place, oldest first.
    async fn legal_holds(&self) -> Result<Vec<LegalHold>, StoreError>;

    /// Queues the patient's erasure unless a legal hold is in place, in one statement, so
    /// a hold placed concurrently is never overtaken. [`StoreError::Conflict`] when held;
    /// succeeds when the erasure is queued already.
    async fn begin_erasure(&self, patient: PatientId, at: UnixMillis) -> Result<(), StoreError>;

    /// Erasures begun and not completed (e.g. interrupted by a crash), oldest first.
    async fn pending_erasures(&self) -> Result<Vec<PatientId>, StoreError>;

    /// Up to `limit` resources of `resource_type` last changed before `before` (deleted
    /// ones included), carrying `token` when given, after `after` in id order, of
    /// patients under no legal hold: what a retention rule expires. Returns each with its
    /// patient (`None` for the system compartment).
    async fn expired_records(
        &self,
        resource_type: ResourceType,
        before: UnixMillis,
        token: Option<&[u8]>,
        after: Option<&FhirId>,
        limit: u32,
    ) -> Result<Vec<(FhirId, Option<PatientId>)>, StoreError>;

    /// Deletes these resources, every version and search token, in one transaction,
    /// except those of patients a legal hold now keeps. Returns how many resources and
    /// versions went.
    async fn purge_records(
        &self,
        resource_type: ResourceType,
        ids: &[FhirId],
    ) -> Result<(u64, u64), StoreError>;

    /// Up to `limit` patients after `after` (in id order) whose records all last changed
    /// before `before` and who are under no legal hold: what a retention rule for whole
    /// patients expires.
    async fn expired_patients(
        &self,
        before: UnixMillis,
        after: Option<PatientId>,
        limit: u32,
    ) -> Result<Vec<PatientId>, StoreError>;

    /// In one transaction: deletes the patient's records (every version and search token),
    /// their wrapped data key, the users linked to them (with their sessions, tokens and
    /// factors), and the queue entry. [`StoreError::NotFound`] when none was begun.
    async fn complete_erasure(&self, patient: PatientId) -> Result<ErasedRows, StoreError>;
}

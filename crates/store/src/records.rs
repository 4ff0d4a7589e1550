//! `RecordStore`: encrypted FHIR resource versions and their blind-index tokens.
//!
//! The store never sees plaintext: bodies arrive sealed, search tokens arrive as keyed
//! digests. What it keeps in the clear is what DESIGN.md §2.2 names: type, id, version,
//! last-updated time and the compartment (which data key seals the body).

use medvault_domain::{Compartment, FhirId, PatientId, ResourceType, UnixMillis, WrappedDataKey};

use crate::StoreError;

/// One stored version of a resource.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordVersion {
    pub resource_type: ResourceType,
    pub id: FhirId,
    pub version: u64,
    pub last_updated: UnixMillis,
    pub compartment: Compartment,
    /// A deletion is a version too, with an empty body (FHIR R4 §3.1.0.7.1).
    pub deleted: bool,
    /// The sealed JSON body; empty for deletions.
    pub sealed: Vec<u8>,
    /// The patient's access epoch as of this read (see `AccessStore::access_epoch`), read
    /// in the same statement so that deciding access needs no second round trip. 0 for
    /// system records and for versions not read from the store.
    pub access_epoch: u64,
}

impl std::fmt::Debug for RecordVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordVersion")
            .field("resource_type", &self.resource_type)
            .field("id", &self.id)
            .field("version", &self.version)
            .field("deleted", &self.deleted)
            .field("sealed_len", &self.sealed.len())
            .finish_non_exhaustive()
    }
}

/// A new version to store, with the tokens that make the resulting current version searchable.
#[derive(Debug, Clone)]
pub struct RecordWrite {
    pub record: RecordVersion,
    /// `None` to create (the id must be new); `Some(v)` to replace current version `v`.
    pub expected_version: Option<u64>,
    pub tokens: Vec<Vec<u8>>,
}

/// Writes that must be stored together, with the data keys they introduce.
#[derive(Debug, Clone, Default)]
pub struct RecordBatch {
    pub new_keys: Vec<WrappedDataKey>,
    pub writes: Vec<RecordWrite>,
    /// Patients whose access facts (care teams, consents, the Patient) this batch changes:
    /// their access epochs are bumped in the same transaction.
    pub access_changed: Vec<PatientId>,
}

/// Which current, undeleted resources to list, in `(type, id)` order.
#[derive(Debug, Clone, Default)]
pub struct RecordQuery {
    /// `None` for every type (a compartment listing such as `$everything`).
    pub resource_type: Option<ResourceType>,
    pub compartment: Option<Compartment>,
    /// Only records in these patients' compartments, when not empty: the compartments a
    /// caller may see.
    pub within: Vec<PatientId>,
    /// Only these ids, when not empty.
    pub ids: Vec<FhirId>,
    /// Every group must match, each by any one of its tokens.
    pub token_groups: Vec<Vec<Vec<u8>>>,
    /// `last_updated` in `[from, until)`.
    pub updated_from: Option<UnixMillis>,
    pub updated_until: Option<UnixMillis>,
    /// Keyset cursor: only resources after this `(type, id)`.
    pub after: Option<(ResourceType, FhirId)>,
    pub limit: u32,
}

/// Which versions to list, newest first.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub resource_type: ResourceType,
    /// One resource's history, or the whole type's.
    pub id: Option<FhirId>,
    /// Only versions written at or after this time (`_since`).
    pub since: Option<UnixMillis>,
    /// Keyset cursor: only versions before this `(last_updated, id, version)`.
    pub before: Option<(UnixMillis, FhirId, u64)>,
    /// Only versions in these patients' compartments, when not empty.
    pub within: Vec<PatientId>,
    pub limit: u32,
}

#[async_trait::async_trait]
pub trait RecordStore {
    /// Stores every write and the new data keys in one transaction: all or nothing. A
    /// create of an existing id, or an expected version that is not current, is `Conflict`.
    async fn write_records(
        &self,
        new_keys: &[WrappedDataKey],
        writes: &[RecordWrite],
    ) -> Result<(), StoreError> {
        let batch = RecordBatch {
            new_keys: new_keys.to_vec(),
            writes: writes.to_vec(),
            access_changed: Vec::new(),
        };
        let mut outcomes = self
            .write_record_batches(std::slice::from_ref(&batch))
            .await?;
        outcomes.pop().unwrap_or(Ok(()))
    }

    /// Group commit: stores several independent batches in one database transaction, each
    /// all or nothing on its own (a savepoint each). Returns each batch's outcome; fails as
    /// a whole only when the transaction itself fails.
    async fn write_record_batches(
        &self,
        batches: &[RecordBatch],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError>;

    /// The current version (`version: None`, deleted or not) or one exact version.
    async fn record(
        &self,
        resource_type: ResourceType,
        id: &FhirId,
        version: Option<u64>,
    ) -> Result<RecordVersion, StoreError>;

    async fn find_records(&self, query: &RecordQuery) -> Result<Vec<RecordVersion>, StoreError>;

    async fn record_history(&self, query: &HistoryQuery) -> Result<Vec<RecordVersion>, StoreError>;

    /// Every version of every record in a compartment, deletions included, in
    /// `(type, id, version)` order after the keyset cursor `after` (for data exports).
    async fn compartment_versions(
        &self,
        compartment: Compartment,
        after: Option<&(ResourceType, FhirId, u64)>,
        limit: u32,
    ) -> Result<Vec<RecordVersion>, StoreError>;
}

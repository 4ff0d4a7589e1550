use medvault_domain::{AuditEvent, UnixMillis};

use crate::StoreError;

/// Computes an entry's hash from its sequence number, its predecessor's hash and the
/// canonical form of its columns. Passed in so the store stays free of cryptography.
pub type ChainHasher = fn(u64, &[u8; 32], &[u8]) -> [u8; 32];

/// What verifying a link needs: the stored hashes and the canonical form the database
/// computes from the stored columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLink {
    pub seq: u64,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    pub canonical: String,
}

/// One link of the audit chain as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainedEntry {
    pub seq: u64,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    pub event: AuditEvent,
}

/// A signed statement of the chain's head at `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    pub seq: u64,
    pub head_hash: [u8; 32],
    pub at: UnixMillis,
    pub key_id: String,
    pub signature: Vec<u8>,
}

/// The checkpoint-signing key, its private half sealed under the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKeyRecord {
    pub key_id: String,
    pub sealed_private: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: UnixMillis,
}

impl std::fmt::Debug for AuditKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKeyRecord")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Which events an auditor's search returns. Every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub patient: Option<String>,
    /// The acting user's or client's id.
    pub agent: Option<String>,
    pub actions: Vec<&'static str>,
    pub outcome: Option<&'static str>,
    /// Inclusive bounds on `at`.
    pub since: Option<UnixMillis>,
    pub until: Option<UnixMillis>,
}

#[async_trait::async_trait]
pub trait AuditStore {
    /// Appends `events` as the next links of the chain in one transaction, serialised
    /// against every other appender (of this or any instance); durable on return.
    /// Returns their sequence numbers.
    async fn append_audit_events(
        &self,
        events: &[AuditEvent],
        hasher: ChainHasher,
    ) -> Result<Vec<u64>, StoreError>;

    /// Entries in sequence order from `from` on, at most `limit`.
    async fn audit_entries(&self, from: u64, limit: u32) -> Result<Vec<ChainedEntry>, StoreError>;

    /// Entries matching `filter` with sequence numbers above `after`, in sequence order.
    async fn search_audit_entries(
        &self,
        filter: &AuditFilter,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ChainedEntry>, StoreError>;

    /// Links in sequence order from `from` on, at most `limit`.
    async fn audit_links(&self, from: u64, limit: u32) -> Result<Vec<AuditLink>, StoreError>;

    /// The last sequence number and its hash; `(0, genesis)` for an empty chain.
    async fn audit_head(&self) -> Result<(u64, [u8; 32]), StoreError>;

    /// Retention: deletes entries up to and including `through`, and the checkpoints before
    /// it. The checkpoint at `through` stays as the signed anchor the rest verifies from;
    /// [`StoreError::NotFound`] when there is none. Returns how many entries were deleted.
    async fn prune_audit_entries(&self, through: u64) -> Result<u64, StoreError>;

    /// [`StoreError::Conflict`] when a checkpoint at that sequence exists.
    async fn insert_audit_checkpoint(&self, checkpoint: &AuditCheckpoint)
        -> Result<(), StoreError>;

    /// All checkpoints, by sequence.
    async fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>, StoreError>;

    /// [`StoreError::Conflict`] when a key exists already.
    async fn insert_audit_key(&self, key: &AuditKeyRecord) -> Result<(), StoreError>;

    async fn audit_key(&self) -> Result<Option<AuditKeyRecord>, StoreError>;

    /// Replaces the checkpoint key's sealed private half (after a master-key rotation).
    async fn reseal_audit_key(&self, sealed_private: &[u8]) -> Result<(), StoreError>;
}

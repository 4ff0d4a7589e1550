//! `AccessStore`: what authorization keeps (issue #6): policy sets, the epoch of each
//! patient's access facts, and break-the-glass grants.

use medvault_domain::{PatientId, UnixMillis, UserId};

use crate::StoreError;

/// One accepted policy set. The newest version is in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySetRecord {
    pub version: u64,
    pub text: String,
    pub created_at: UnixMillis,
    /// Who loaded it: a user id, or `operator` at the CLI.
    pub created_by: String,
}

/// Emergency access to one patient's records for a limited time.
#[derive(Clone, PartialEq, Eq)]
pub struct BreakGlassGrant {
    pub id: String,
    pub user_id: UserId,
    pub patient: PatientId,
    /// The stated reason, sealed under the patient's data key.
    pub reason_sealed: Vec<u8>,
    pub created_at: UnixMillis,
    pub expires_at: UnixMillis,
}

impl std::fmt::Debug for BreakGlassGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakGlassGrant")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
pub trait AccessStore {
    /// The newest policy set, if one was ever loaded.
    async fn policy_set(&self) -> Result<Option<PolicySetRecord>, StoreError>;

    /// The newest policy set's version; 0 when none was loaded.
    async fn policy_version(&self) -> Result<u64, StoreError>;

    /// Stores `text` as version `replaces + 1`: [`StoreError::Conflict`] when another set
    /// was loaded since `replaces` was read.
    async fn insert_policy_set(
        &self,
        replaces: u64,
        text: &str,
        at: UnixMillis,
        by: &str,
    ) -> Result<u64, StoreError>;

    /// How many times a patient's access facts changed; 0 when never. Record batches
    /// bump it (see `RecordBatch::access_changed`), and so do break-the-glass grants.
    async fn access_epoch(&self, patient: PatientId) -> Result<u64, StoreError>;

    /// Stores a grant and bumps the patient's access epoch, in one transaction.
    async fn insert_break_glass(&self, grant: &BreakGlassGrant) -> Result<(), StoreError>;

    /// A patient's grants that expire after `now`.
    async fn live_break_glass(
        &self,
        patient: PatientId,
        now: UnixMillis,
    ) -> Result<Vec<BreakGlassGrant>, StoreError>;

    /// The patients a user holds grants for that expire after `now`.
    async fn break_glass_patients(
        &self,
        user: UserId,
        now: UnixMillis,
    ) -> Result<Vec<PatientId>, StoreError>;

    /// Grants newest first, after the `(created_at, id)` cursor `before`, at most `limit`.
    async fn break_glass_grants(
        &self,
        before: Option<(UnixMillis, String)>,
        limit: u32,
    ) -> Result<Vec<BreakGlassGrant>, StoreError>;
}

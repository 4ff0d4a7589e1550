//! `MfaStore`: second factors (TOTP, recovery codes), sign-in challenges waiting for a
//! second factor, and the second-factor time of sessions.

use medvault_domain::{SessionId, UnixMillis, UserId};

use crate::StoreError;

/// A user's TOTP factor: pending until its first code confirms it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpRecord {
    pub sealed_secret: Vec<u8>,
    pub confirmed_at: Option<UnixMillis>,
    pub last_step: u64,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("confirmed_at", &self.confirmed_at)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

/// A password sign-in waiting for its second factor, found by its token's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallengeRecord {
    pub digest: [u8; 32],
    pub user_id: UserId,
    pub expires_at: UnixMillis,
}

#[async_trait::async_trait]
pub trait MfaStore {
    /// Starts, or restarts, a TOTP enrollment. [`StoreError::Conflict`] when the user
    /// already has a confirmed TOTP factor.
    async fn put_pending_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        at: UnixMillis,
    ) -> Result<(), StoreError>;

    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError>;

    /// Confirms the pending enrollment with the step its first code used, and replaces
    /// the recovery codes (unless `recovery_digests` is empty: a further factor keeps the
    /// account's codes), in one transaction. `NotFound` without a pending enrollment.
    async fn confirm_totp(
        &self,
        user: UserId,
        step: u64,
        at: UnixMillis,
        recovery_digests: &[[u8; 32]],
    ) -> Result<(), StoreError>;

    /// Marks `step` used. [`StoreError::Conflict`] when it or a later step already was:
    /// a code is accepted at most once (RFC 6238 §5.2).
    async fn use_totp_step(&self, user: UserId, step: u64) -> Result<(), StoreError>;

    /// Removes the TOTP factor (the recovery codes stay while other factors remain).
    /// `NotFound` when there is none.
    async fn delete_totp(&self, user: UserId) -> Result<(), StoreError>;

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        digests: &[[u8; 32]],
    ) -> Result<(), StoreError>;

    /// Spends a recovery code. `NotFound` when it is unknown or already spent.
    async fn use_recovery_code(
        &self,
        user: UserId,
        digest: &[u8; 32],
        at: UnixMillis,
    ) -> Result<(), StoreError>;

    async fn unused_recovery_codes(&self, user: UserId) -> Result<u32, StoreError>;

    /// Stores a challenge; expired ones are swept on the way.
    async fn insert_mfa_challenge(
        &self,
        challenge: &MfaChallengeRecord,
        at: UnixMillis,
    ) -> Result<(), StoreError>;

    /// The live challenge with this digest: unexpired at `now`, unspent, and with fewer
    /// than `max_failures` wrong codes. `NotFound` otherwise.
    async fn mfa_challenge(
        &self,
        digest: &[u8; 32],
        now: UnixMillis,
        max_failures: u32,
    ) -> Result<MfaChallengeRecord, StoreError>;

    /// Counts a wrong code against a challenge.
    async fn fail_mfa_challenge(&self, digest: &[u8; 32]) -> Result<(), StoreError>;

    /// Spends a challenge exactly once. `NotFound` when it was already spent.
    async fn spend_mfa_challenge(
        &self,
        digest: &[u8; 32],
        at: UnixMillis,
    ) -> Result<(), StoreError>;

    /// Records a verified second factor on a session, with its new RFC 8176 methods.
    async fn record_session_mfa(
        &self,
        session: SessionId,
        at: UnixMillis,
        amr: &[String],
    ) -> Result<(), StoreError>;
}

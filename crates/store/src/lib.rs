//! Storage traits, one per aggregate, shared by every backend.
//!
//! Backends (`medvault-store-sqlite`, `medvault-store-postgres`) implement every trait and
//! prove it by running the [`conformance`] suite. Services depend only on these traits.

mod access;
mod audit;
mod erasure;
mod error;
mod keys;
mod meta;
mod mfa;
mod oauth;
mod open;
mod outbox;
mod records;
mod sessions;
mod signing_keys;
mod users;
mod webauthn;

#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "sqlx")]
pub mod sql;

pub use access::{AccessStore, BreakGlassGrant, PolicySetRecord};
pub use audit::{
    AuditCheckpoint, AuditFilter, AuditKeyRecord, AuditLink, AuditStore, ChainHasher, ChainedEntry,
};
pub use erasure::{ErasedRows, ErasureStore, KeyShareRecord, KeyShareStore, LegalHold};
pub use error::{BoxError, StoreError};
pub use keys::DataKeyStore;
pub use meta::MetaStore;
pub use mfa::{MfaChallengeRecord, MfaStore, TotpRecord};
pub use oauth::{
    AuthorizationCode, CodeRedemption, OAuthClient, OAuthClientStore, OAuthGrant, OAuthGrantStore,
};
#[cfg(feature = "sqlx")]
pub use open::migrations;
pub use open::OpenError;
pub use outbox::{OutboxMessage, OutboxStore};
pub use records::{
    HistoryQuery, RecordBatch, RecordQuery, RecordStore, RecordVersion, RecordWrite,
};
pub use sessions::{RefreshTokenRecord, Rotation, SessionStore};
pub use signing_keys::{SigningKeyRecord, SigningKeyState, SigningKeyStore};
pub use users::{UserFilter, UserStore};
pub use webauthn::{Ceremony, CeremonyKind, WebAuthnCredential, WebAuthnStore};

/// Everything medvault stores, behind one handle that `AppState` keeps as `Arc<dyn Store>`.
#[async_trait::async_trait]
pub trait Store:
    MetaStore
    + DataKeyStore
    + UserStore
    + SessionStore
    + SigningKeyStore
    + AuditStore
    + RecordStore
    + MfaStore
    + OutboxStore
    + KeyShareStore
    + ErasureStore
    + WebAuthnStore
    + OAuthClientStore
    + OAuthGrantStore
    + AccessStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// `sqlite` or `postgres`, for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Answers when the database is reachable and usable (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes every connection after in-flight work finishes. For SQLite this also
    /// checkpoints the write-ahead log.
    async fn close(&self);
}

//! Storage traits, one per aggregate, shared by every backend.
//!
//! Backends (`medvault-store-sqlite`, `medvault-store-postgres`) implement every trait and
//! prove it by running the [`conformance`] suite. Services depend only on these traits.

mod error;
mod keys;
mod meta;
mod open;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{BoxError, StoreError};
pub use keys::DataKeyStore;
pub use meta::MetaStore;
#[cfg(feature = "sqlx")]
pub use open::migrations;
pub use open::OpenError;

/// Everything medvault stores, behind one handle that `AppState` keeps as `Arc<dyn Store>`.
#[async_trait::async_trait]
pub trait Store: MetaStore + DataKeyStore + Send + Sync + std::fmt::Debug {
    /// `sqlite` or `postgres`, for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Answers when the database is reachable and usable (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes every connection after in-flight work finishes. For SQLite this also
    /// checkpoints the write-ahead log.
    async fn close(&self);
}

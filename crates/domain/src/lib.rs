//! Pure medvault types and rules. Nothing here performs I/O.
//!
//! Parse, don't validate: every id and value that crosses a boundary is a newtype
//! built through a constructor that rejects malformed input.

pub mod ids;
pub mod keys;

pub use ids::{IdError, PatientId};
pub use keys::{MasterKeyId, MasterKeyIdError, WrappedDataKey};

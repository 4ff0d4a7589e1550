//! Pure medvault types and rules. Nothing here performs I/O.
//!
//! Parse, don't validate: every id and value that crosses a boundary is a newtype
//! built through a constructor that rejects malformed input.

pub mod audit;
pub mod fhir;
pub mod identity;
pub mod ids;
pub mod keys;

pub use audit::{
    Actor, AuditAction, AuditEvent, AuditSubject, AuditedResource, Outcome, PurposeOfUse,
};
pub use fhir::{Compartment, FhirId, ResourceType};
pub use identity::{DisplayName, Email, Role, Roles, Session, UnixMillis, User, UserStatus};
pub use ids::{IdError, PatientId, SessionId, UserId};
pub use keys::{MasterKeyId, MasterKeyIdError, WrappedDataKey};

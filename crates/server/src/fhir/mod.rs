//! The FHIR R4 context. So far it holds what every FHIR route shares: errors as
//! OperationOutcome and the `application/fhir+json` media type.

pub mod outcome;

pub use outcome::OperationOutcome;

pub const CONTENT_TYPE: &str = "application/fhir+json";

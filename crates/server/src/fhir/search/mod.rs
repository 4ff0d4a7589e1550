//! FHIR search over encrypted records: parameters per type, value extraction shared by
//! indexing and matching, and parsed criteria.

pub mod criteria;
pub mod params;
pub mod values;

pub use criteria::{parse, Search, MAX_COUNT};

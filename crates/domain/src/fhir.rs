//! FHIR envelope types: which resource types medvault stores, and resource ids.
//!
//! The record store keeps only these fields in plaintext (DESIGN.md §2.2); everything
//! else about a resource is inside its encrypted body.

use std::fmt;
use std::str::FromStr;

use crate::PatientId;

macro_rules! resource_types {
    ($($variant:ident),* $(,)?) => {
        /// The FHIR R4 resource types medvault stores.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ResourceType {
            $($variant,)*
        }

        impl ResourceType {
            pub const ALL: &'static [ResourceType] = &[$(Self::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($variant),)*
                }
            }
        }
    };
}

resource_types!(
    AllergyIntolerance,
    CareTeam,
    Communication,
    Condition,
    Consent,
    DiagnosticReport,
    DocumentReference,
    Encounter,
    Immunization,
    MedicationRequest,
    Observation,
    Organization,
    Patient,
    Practitioner,
);

/// Why a string names no stored resource type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("medvault does not store this resource type")]
pub struct UnknownResourceType;

impl FromStr for ResourceType {
    type Err = UnknownResourceType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or(UnknownResourceType)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ResourceType {
    /// Directory resources belong to no patient; they are sealed under the system key.
    pub fn is_directory(self) -> bool {
        matches!(self, Self::Practitioner | Self::Organization)
    }
}

/// A FHIR resource id: `[A-Za-z0-9\-\.]{1,64}` (FHIR R4 §2.24.0.1, the `id` datatype).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FhirId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a FHIR id is 1 to 64 letters, digits, '-' or '.'")]
pub struct FhirIdError;

impl FhirId {
    /// A new server-assigned id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().hyphenated().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for FhirId {
    type Err = FhirIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(FhirIdError)
        }
    }
}

impl fmt::Display for FhirId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<PatientId> for FhirId {
    fn from(value: PatientId) -> Self {
        Self(value.to_string())
    }
}

/// Which data key seals a record: a patient's own, or the system key for directory
/// resources (Practitioner, Organization) that belong to no patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Compartment {
    Patient(PatientId),
    System,
}

impl Compartment {
    /// The data-key slot of the system compartment: the nil UUID, which no server-assigned
    /// (random, version 4) Patient id can take.
    pub const SYSTEM_KEY_SLOT: PatientId = PatientId::from_u128(0);

    pub fn key_slot(self) -> PatientId {
        match self {
            Self::Patient(patient) => patient,
            Self::System => Self::SYSTEM_KEY_SLOT,
        }
    }

    /// The inverse of [`Compartment::key_slot`], for rows read back from storage.
    pub fn from_key_slot(slot: PatientId) -> Self {
        if slot == Self::SYSTEM_KEY_SLOT {
            Self::System
        } else {
            Self::Patient(slot)
        }
    }

    pub fn patient(self) -> Option<PatientId> {
        match self {
            Self::Patient(patient) => Some(patient),
            Self::System => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_types_round_trip_by_name() {
        for t in ResourceType::ALL {
            assert_eq!(t.as_str().parse::<ResourceType>(), Ok(*t));
        }
        assert!("AuditEvent".parse::<ResourceType>().is_err());
        assert!("patient".parse::<ResourceType>().is_err());
    }

    #[test]
    fn fhir_ids_follow_the_r4_id_syntax() {
        assert!("abc-1.2".parse::<FhirId>().is_ok());
        assert!("a".repeat(64).parse::<FhirId>().is_ok());
        assert!("a".repeat(65).parse::<FhirId>().is_err());
        assert!("".parse::<FhirId>().is_err());
        assert!("a/b".parse::<FhirId>().is_err());
        assert!("a b".parse::<FhirId>().is_err());
    }

    #[test]
    fn the_system_slot_round_trips_and_no_patient_takes_it() {
        assert_eq!(
            Compartment::from_key_slot(Compartment::System.key_slot()),
            Compartment::System
        );
        let patient = PatientId::new();
        assert_eq!(
            Compartment::from_key_slot(patient),
            Compartment::Patient(patient)
        );
    }
}

//! Identifiers. Each kind of id is its own type so one can never be passed for another.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{kind}` ids are lowercase UUIDs")]
pub struct IdError {
    kind: &'static str,
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// A fixed id, for reserved slots and tests.
            pub const fn from_u128(value: u128) -> Self {
                Self(Uuid::from_u128(value))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only the canonical hyphenated lowercase form is accepted, so one id has
                // exactly one spelling (ids are compared and indexed as strings elsewhere).
                let parsed = Uuid::try_parse(s).map_err(|_| IdError { kind: $kind })?;
                if parsed.hyphenated().to_string() != s {
                    return Err(IdError { kind: $kind });
                }
                Ok(Self(parsed))
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }
    };
}

uuid_id!(
    /// The FHIR `Patient` resource id a record, a data key or a user belongs to.
    PatientId,
    "patient"
);

uuid_id!(
    /// A medvault user account.
    UserId,
    "user"
);

uuid_id!(
    /// A signed-in session (the `sid` claim of its access tokens).
    SessionId,
    "session"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_id_round_trips_through_its_string_form() {
        let id = PatientId::new();
        assert_eq!(id.to_string().parse::<PatientId>(), Ok(id));
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        let id = PatientId::new().to_string();
        assert!(id.to_uppercase().parse::<PatientId>().is_err());
        assert!(id.replace('-', "").parse::<PatientId>().is_err());
        assert!("not-a-uuid".parse::<PatientId>().is_err());
        assert!("".parse::<PatientId>().is_err());
    }
}

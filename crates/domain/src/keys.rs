//! Public names of keys. Key material itself lives only in the crypto crate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::PatientId;

/// The public fingerprint of a master key (KEK): 16 lowercase hex characters.
///
/// Every wrapped data key records the id of the KEK that wrapped it, so a KEK rotation
/// can find what to re-wrap and start-up can tell a wrong master key from a missing one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MasterKeyId(String);

/// Why a string is not a master key id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a master key id is 16 lowercase hex characters")]
pub struct MasterKeyIdError;

impl MasterKeyId {
    pub const LEN: usize = 16;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for MasterKeyId {
    type Err = MasterKeyIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = s.len() == Self::LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(MasterKeyIdError)
        }
    }
}

impl TryFrom<String> for MasterKeyId {
    type Error = MasterKeyIdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<MasterKeyId> for String {
    fn from(value: MasterKeyId) -> Self {
        value.0
    }
}

impl fmt::Display for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A patient's data key sealed under a master key. Safe to store: useless without the KEK.
/// The crypto crate makes and opens these; stores only keep them.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    pub patient: PatientId,
    pub master_key_id: MasterKeyId,
    pub sealed: Vec<u8>,
}

impl fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedDataKey")
            .field("patient", &self.patient)
            .field("master_key_id", &self.master_key_id)
            .field("sealed_len", &self.sealed.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sixteen_lowercase_hex_characters_make_an_id() {
        assert!("0123456789abcdef".parse::<MasterKeyId>().is_ok());
        assert!("0123456789ABCDEF".parse::<MasterKeyId>().is_err());
        assert!("0123456789abcde".parse::<MasterKeyId>().is_err());
        assert!("0123456789abcdeg".parse::<MasterKeyId>().is_err());
    }
}

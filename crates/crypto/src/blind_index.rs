//! Blind-index tokens: keyed digests of normalised search values, so encrypted records
//! can be found by equality without the database learning the values.
//!
//! The key is derived with HKDF from an index root that is itself a random key stored
//! wrapped under the KEK (like a patient's data key), not from the KEK directly: rotating
//! the KEK re-wraps the root, and every stored token stays valid.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::derive::{hkdf_expand, KeyPurpose};
use crate::master_key::KEY_LEN;
use crate::DataKey;

/// Tokens are HMAC-SHA256 truncated to 128 bits: collisions among a few billion tokens
/// stay negligible, and every hit is re-checked against the decrypted record anyway.
pub const TOKEN_LEN: usize = 16;

pub struct BlindIndexKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl BlindIndexKey {
    pub fn from_root(root: &DataKey) -> Self {
        Self {
            bytes: hkdf_expand(root.expose(), KeyPurpose::BlindIndex),
        }
    }

    /// A key of the same kind for pseudonymous ids in research exports (HIPAA Safe
    /// Harbor): stable across master-key rotations like the index, never reversible
    /// without the key, and unrelated to search tokens.
    pub fn pseudonyms_from_root(root: &DataKey) -> Self {
        Self {
            bytes: hkdf_expand(root.expose(), KeyPurpose::ResearchPseudonym),
        }
    }

    /// The token of `parts` (e.g. resource type, parameter, normalised value). Each part
    /// is length-prefixed, so no two different part lists share an input.
    pub fn token(&self, parts: &[&[u8]]) -> [u8; TOKEN_LEN] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.bytes.as_ref()).expect("HMAC takes any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let digest = mac.finalize().into_bytes();
        let mut token = [0u8; TOKEN_LEN];
        token.copy_from_slice(&digest[..TOKEN_LEN]);
        token
    }
}

impl fmt::Debug for BlindIndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BlindIndexKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_deterministic_per_root_and_differ_between_roots() {
        let root = DataKey::generate();
        let (a, b) = (
            BlindIndexKey::from_root(&root),
            BlindIndexKey::from_root(&root),
        );
        assert_eq!(
            a.token(&[b"family", b"smith"]),
            b.token(&[b"family", b"smith"])
        );
        let other = BlindIndexKey::from_root(&DataKey::generate());
        assert_ne!(
            a.token(&[b"family", b"smith"]),
            other.token(&[b"family", b"smith"])
        );
    }

    #[test]
    fn part_boundaries_matter() {
        let key = BlindIndexKey::from_root(&DataKey::generate());
        assert_ne!(key.token(&[b"ab", b"c"]), key.token(&[b"a", b"bc"]));
    }
}

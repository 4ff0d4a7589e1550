//! The master key (KEK). It never leaves this crate: callers derive purpose keys from
//! it or ask it to wrap data keys.

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use medvault_domain::MasterKeyId;
use zeroize::Zeroizing;

use crate::derive::{hkdf_expand, KeyPurpose};

pub(crate) const KEY_LEN: usize = 32;

pub struct MasterKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl MasterKey {
    /// 256 fresh bits from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        Self { bytes }
    }

    /// Parses the base64 form used by `master.key` and `MEDVAULT_MASTER_KEY`.
    /// Surrounding whitespace is ignored; anything but exactly 32 bytes is refused.
    pub fn from_base64(encoded: &str) -> Result<Self, MalformedKey> {
        let decoded = Zeroizing::new(STANDARD.decode(encoded.trim()).map_err(|_| MalformedKey)?);
        let array: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| MalformedKey)?;
        Ok(Self {
            bytes: Zeroizing::new(array),
        })
    }

    /// The base64 form, for writing `master.key`.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.bytes.as_ref()))
    }

    /// The key's public fingerprint. HKDF is one-way, so the id reveals nothing about the key.
    pub fn id(&self) -> MasterKeyId {
        let digest = self.derive_bytes(KeyPurpose::MasterKeyId);
        let hex: String = digest[..MasterKeyId::LEN / 2]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        hex.parse()
            .expect("16 lowercase hex characters form a master key id")
    }

    pub(crate) fn derive_bytes(&self, purpose: KeyPurpose) -> Zeroizing<[u8; KEY_LEN]> {
        hkdf_expand(&self.bytes, purpose)
    }

    pub(crate) fn key_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

/// The text is not the base64 encoding of exactly 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a master key is exactly 32 bytes, base64-encoded")]
pub struct MalformedKey;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_form_round_trips_and_keeps_the_id() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&format!("  {}\n", key.to_base64().as_str())).unwrap();
        assert_eq!(key.id(), again.id());
        assert_ne!(key.id(), MasterKey::generate().id());
    }

    #[test]
    fn keys_of_the_wrong_length_are_refused() {
        assert_eq!(
            MasterKey::from_base64(&STANDARD.encode([1u8; 31])).err(),
            Some(MalformedKey)
        );
        assert_eq!(
            MasterKey::from_base64(&STANDARD.encode([1u8; 33])).err(),
            Some(MalformedKey)
        );
        assert_eq!(
            MasterKey::from_base64("not base64!").err(),
            Some(MalformedKey)
        );
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let key = MasterKey::generate();
        let debug = format!("{key:?}");
        assert!(!debug.contains(key.to_base64().as_str()));
        assert!(debug.contains(key.id().as_str()));
    }
}

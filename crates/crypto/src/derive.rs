//! Purpose keys derived from the master key with HKDF-SHA256 (RFC 5869).
//!
//! Each purpose has its own `info` label, so keys for different purposes are
//! independent: learning one reveals nothing about the KEK or any other.

use std::fmt;

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::master_key::{MasterKey, KEY_LEN};

/// What a derived key is for. The label is part of the derivation and must never change
/// for an existing purpose; a new purpose gets a new variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyPurpose {
    /// The master key's public fingerprint.
    MasterKeyId,
    /// Keyed tokens for searching encrypted records.
    BlindIndex,
    /// Encryption of TOTP shared secrets.
    TotpSecret,
    /// Signing and encryption of browser cookies.
    Cookie,
    /// Signing proof-of-work challenges, so they can be stateless.
    Challenge,
    /// Pseudonymous ids in de-identified research exports.
    ResearchPseudonym,
}

impl KeyPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::MasterKeyId => b"medvault/v1/master-key-id",
            Self::BlindIndex => b"medvault/v1/blind-index",
            Self::TotpSecret => b"medvault/v1/totp-secret",
            Self::Cookie => b"medvault/v1/cookie",
            Self::Challenge => b"medvault/v1/challenge",
            Self::ResearchPseudonym => b"medvault/v1/research-pseudonym",
        }
    }
}

pub(crate) fn hkdf_expand(ikm: &[u8; KEY_LEN], purpose: KeyPurpose) -> Zeroizing<[u8; KEY_LEN]> {
    // The KEK is already uniformly random, so HKDF-Extract needs no salt (RFC 5869 §3.1).
    let hkdf = Hkdf::<Sha256>::new(None, ikm);
    let mut okm = Zeroizing::new([0u8; KEY_LEN]);
    hkdf.expand(purpose.label(), okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    okm
}

/// A key derived from the master key for one purpose.
pub struct PurposeKey {
    purpose: KeyPurpose,
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl PurposeKey {
    pub fn derive(master: &MasterKey, purpose: KeyPurpose) -> Self {
        Self {
            purpose,
            bytes: master.derive_bytes(purpose),
        }
    }

    pub fn purpose(&self) -> KeyPurpose {
        self.purpose
    }

    /// Raw key bytes, for handing to a vetted primitive (HMAC, AEAD) in this crate.
    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for PurposeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PurposeKey")
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_derive_independent_keys() {
        let master = MasterKey::generate();
        let blind = PurposeKey::derive(&master, KeyPurpose::BlindIndex);
        let totp = PurposeKey::derive(&master, KeyPurpose::TotpSecret);
        assert_ne!(blind.expose(), totp.expose());
        assert_ne!(blind.expose(), master.key_bytes());
    }

    #[test]
    fn derivation_is_deterministic_per_master_key() {
        let master = MasterKey::generate();
        let again = MasterKey::from_base64(&master.to_base64()).unwrap();
        assert_eq!(
            PurposeKey::derive(&master, KeyPurpose::Cookie).expose(),
            PurposeKey::derive(&again, KeyPurpose::Cookie).expose()
        );
    }

    #[test]
    fn rfc5869_test_vector_matches() {
        // RFC 5869 appendix A.3 (no salt, no info) pins the primitive we rely on.
        let ikm = [0x0bu8; 22];
        let hkdf = Hkdf::<Sha256>::new(None, &ikm);
        let mut okm = [0u8; 42];
        hkdf.expand(&[], &mut okm).unwrap();
        assert_eq!(okm[..8], [0x8d, 0xa4, 0xe7, 0x75, 0xa5, 0x63, 0xc1, 0x8f],);
    }
}

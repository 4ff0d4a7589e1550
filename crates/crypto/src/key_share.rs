//! A patient's erasable key share: the secret that makes crypto-shredding reach backups.
//!
//! A patient's data key is wrapped under a key derived from the KEK *and* this share, and
//! the share lives in the key vault, apart from the records database. Destroying the share
//! leaves every copy of the database (every backup) holding a wrapped key that nothing can
//! open. The share also keys the patient's audit subject, a pseudonym the audit trail
//! names them by, so once it is gone the trail's entries no longer link to them.

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use medvault_domain::PatientId;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::master_key::{MasterKey, KEY_LEN};
use crate::CryptoError;

pub struct KeyShare {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl KeyShare {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        Self { bytes }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| CryptoError::Malformed)?;
        Ok(Self {
            bytes: Zeroizing::new(bytes),
        })
    }

    /// The raw share, for storing in the key vault.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.bytes.to_vec())
    }

    /// The key a patient's data key is wrapped under: HKDF(KEK, salt = share). Neither
    /// half alone opens it.
    pub(crate) fn wrapping_key(&self, master: &MasterKey) -> Zeroizing<[u8; KEY_LEN]> {
        let hkdf = Hkdf::<Sha256>::new(Some(self.bytes.as_ref()), master.key_bytes());
        let mut okm = Zeroizing::new([0u8; KEY_LEN]);
        hkdf.expand(b"medvault/v1/dek-wrap", okm.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        okm
    }

    /// The patient's audit subject: HMAC-SHA256(HKDF(share), patient id), 128 bits in hex.
    /// Independent of the KEK, so it survives KEK rotation.
    pub fn audit_subject(&self, patient: PatientId) -> String {
        let hkdf = Hkdf::<Sha256>::new(None, self.bytes.as_ref());
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        hkdf.expand(b"medvault/v1/audit-subject", key.as_mut())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut mac =
            Hmac::<Sha256>::new_from_slice(key.as_ref()).expect("HMAC takes keys of any length");
        mac.update(patient.to_string().as_bytes());
        let tag = mac.finalize().into_bytes();
        tag[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyShare(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_stable_per_share_and_differ_across_shares_and_patients() {
        let share = KeyShare::generate();
        let patient = PatientId::new();
        let again = KeyShare::from_bytes(&share.to_bytes()).unwrap();
        assert_eq!(share.audit_subject(patient), again.audit_subject(patient));
        assert_eq!(share.audit_subject(patient).len(), 32);
        assert_ne!(
            share.audit_subject(patient),
            KeyShare::generate().audit_subject(patient)
        );
        assert_ne!(
            share.audit_subject(patient),
            share.audit_subject(PatientId::new())
        );
    }

    #[test]
    fn the_wrapping_key_needs_both_the_kek_and_the_share() {
        let master = MasterKey::generate();
        let share = KeyShare::generate();
        assert_ne!(
            share.wrapping_key(&master).as_ref(),
            KeyShare::generate().wrapping_key(&master).as_ref()
        );
        assert_ne!(
            share.wrapping_key(&master).as_ref(),
            share.wrapping_key(&MasterKey::generate()).as_ref()
        );
        assert_ne!(share.wrapping_key(&master).as_ref(), master.key_bytes());
    }

    #[test]
    fn debug_redacts() {
        assert_eq!(
            format!("{:?}", KeyShare::generate()),
            "KeyShare(<redacted>)"
        );
    }
}

//! Per-patient data keys (DEKs), stored only wrapped by the master key (DESIGN.md §3).
//!
//! The wrap's associated data names the patient and the KEK, so a wrapped key copied onto
//! another patient's row, or presented to another KEK, fails to unwrap.

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use medvault_domain::{MasterKeyId, PatientId, WrappedDataKey};
use zeroize::Zeroizing;

use crate::envelope;
use crate::key_share::KeyShare;
use crate::master_key::{MasterKey, KEY_LEN};
use crate::CryptoError;

/// A patient's data key in the clear. Lives only in memory, zeroized on drop.
pub struct DataKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl DataKey {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        OsRng.fill_bytes(bytes.as_mut());
        Self { bytes }
    }

    /// Raw key bytes, for deriving keys from this one inside this crate.
    pub(crate) fn expose(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// Encrypts `plaintext`, binding it to `context` (e.g. resource type, id and version).
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        envelope::seal(&self.bytes, context, plaintext)
    }

    /// Decrypts what [`DataKey::seal`] produced under the same `context`.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        envelope::open(&self.bytes, context, sealed)
    }

    /// Wraps this key under the KEK, or for a patient under the KEK and their erasable
    /// [`KeyShare`] (system compartments have none).
    pub fn wrap(
        &self,
        master: &MasterKey,
        patient: PatientId,
        share: Option<&KeyShare>,
    ) -> WrappedDataKey {
        let master_key_id = master.id();
        let sealed = envelope::seal(
            &wrapping_key(master, share),
            &wrap_context(patient, &master_key_id),
            self.bytes.as_ref(),
        );
        WrappedDataKey {
            patient,
            master_key_id,
            sealed,
        }
    }

    pub fn unwrap(
        master: &MasterKey,
        wrapped: &WrappedDataKey,
        share: Option<&KeyShare>,
    ) -> Result<Self, CryptoError> {
        if wrapped.master_key_id != master.id() {
            return Err(CryptoError::Decrypt);
        }
        let opened = envelope::open(
            &wrapping_key(master, share),
            &wrap_context(wrapped.patient, &wrapped.master_key_id),
            &wrapped.sealed,
        )?;
        let bytes: [u8; KEY_LEN] = opened
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        Ok(Self {
            bytes: Zeroizing::new(bytes),
        })
    }
}

fn wrapping_key(master: &MasterKey, share: Option<&KeyShare>) -> Zeroizing<[u8; KEY_LEN]> {
    match share {
        Some(share) => share.wrapping_key(master),
        None => Zeroizing::new(*master.key_bytes()),
    }
}

/// Re-wraps a data key under a new master key without touching any data the DEK encrypts.
pub fn rewrap(
    wrapped: &WrappedDataKey,
    from: &MasterKey,
    to: &MasterKey,
    share: Option<&KeyShare>,
) -> Result<WrappedDataKey, CryptoError> {
    Ok(DataKey::unwrap(from, wrapped, share)?.wrap(to, wrapped.patient, share))
}

fn wrap_context(patient: PatientId, master_key_id: &MasterKeyId) -> Vec<u8> {
    format!("medvault/v1/dek\0{patient}\0{master_key_id}").into_bytes()
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_unwraps_to_the_same_key() {
        let master = MasterKey::generate();
        let patient = PatientId::new();
        let dek = DataKey::generate();
        let sealed = dek.seal(b"Observation/1/1", b"glucose 5.4 mmol/L");

        let unwrapped = DataKey::unwrap(&master, &dek.wrap(&master, patient, None), None).unwrap();
        let opened = unwrapped.open(b"Observation/1/1", &sealed).unwrap();
        assert_eq!(opened.as_slice(), b"glucose 5.4 mmol/L");
    }

    #[test]
    fn a_wrapped_key_moved_to_another_patient_does_not_unwrap() {
        let master = MasterKey::generate();
        let mut wrapped = DataKey::generate().wrap(&master, PatientId::new(), None);
        wrapped.patient = PatientId::new();
        assert_eq!(
            DataKey::unwrap(&master, &wrapped, None).err(),
            Some(CryptoError::Decrypt)
        );
    }

    #[test]
    fn a_wrapped_key_does_not_unwrap_under_another_master_key() {
        let wrapped = DataKey::generate().wrap(&MasterKey::generate(), PatientId::new(), None);
        let other = MasterKey::generate();
        assert_eq!(
            DataKey::unwrap(&other, &wrapped, None).err(),
            Some(CryptoError::Decrypt)
        );
        // Claiming the other key's id does not help: the id is bound into the wrap.
        let relabelled = WrappedDataKey {
            master_key_id: other.id(),
            ..wrapped
        };
        assert_eq!(
            DataKey::unwrap(&other, &relabelled, None).err(),
            Some(CryptoError::Decrypt)
        );
    }

    #[test]
    fn rewrap_moves_a_key_to_a_new_master_without_reencrypting_data() {
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let patient = PatientId::new();
        let dek = DataKey::generate();
        let sealed = dek.seal(b"ctx", b"record");

        let share = KeyShare::generate();
        let wrapped = dek.wrap(&old, patient, Some(&share));
        let rewrapped = rewrap(&wrapped, &old, &new, Some(&share)).unwrap();
        assert_eq!(rewrapped.master_key_id, new.id());
        assert!(DataKey::unwrap(&old, &rewrapped, Some(&share)).is_err());
        let opened = DataKey::unwrap(&new, &rewrapped, Some(&share))
            .unwrap()
            .open(b"ctx", &sealed)
            .unwrap();
        assert_eq!(opened.as_slice(), b"record");
    }

    #[test]
    fn a_key_wrapped_with_a_share_needs_that_share() {
        let master = MasterKey::generate();
        let patient = PatientId::new();
        let share = KeyShare::generate();
        let wrapped = DataKey::generate().wrap(&master, patient, Some(&share));
        assert!(DataKey::unwrap(&master, &wrapped, Some(&share)).is_ok());
        // The KEK alone, or with another share, opens nothing: this is crypto-shredding.
        assert!(DataKey::unwrap(&master, &wrapped, None).is_err());
        assert!(DataKey::unwrap(&master, &wrapped, Some(&KeyShare::generate())).is_err());
    }

    #[test]
    fn record_ciphertext_is_bound_to_its_context() {
        let dek = DataKey::generate();
        let sealed = dek.seal(b"Observation/1/1", b"value");
        assert_eq!(
            dek.open(b"Observation/2/1", &sealed).err(),
            Some(CryptoError::Decrypt)
        );
    }

    #[test]
    fn debug_output_redacts_keys() {
        let master = MasterKey::generate();
        let dek = DataKey::generate();
        assert_eq!(format!("{dek:?}"), "DataKey(<redacted>)");
        let wrapped = format!("{:?}", dek.wrap(&master, PatientId::new(), None));
        assert!(wrapped.contains("sealed_len"));
    }
}

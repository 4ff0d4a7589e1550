//! AES-256-GCM sealing with associated data (DESIGN.md §2.2).
//!
//! Wire format: `version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)`.
//! The version byte lets a later format coexist with this one.
//!
//! Nonces are 96 random bits from the OS CSPRNG. NIST SP 800-38D §8.3 bounds random
//! nonces to 2^32 messages per key; per-patient keys stay far below that.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use zeroize::Zeroizing;

use crate::CryptoError;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

pub(crate) fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // aes-gcm fails only for messages over 64 GiB, which no caller produces.
        .expect("AES-GCM plaintext exceeds 64 GiB");
    let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    sealed.push(VERSION);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    sealed
}

pub(crate) fn open(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (&version, rest) = sealed.split_first().ok_or(CryptoError::Malformed)?;
    if version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn sealed_text_opens_only_with_its_key_and_context() {
        let sealed = seal(&KEY, b"ctx", b"secret");
        assert_eq!(open(&KEY, b"ctx", &sealed).unwrap().as_slice(), b"secret");
        assert_eq!(open(&[8; 32], b"ctx", &sealed), Err(CryptoError::Decrypt));
        assert_eq!(open(&KEY, b"other", &sealed), Err(CryptoError::Decrypt));
    }

    #[test]
    fn any_flipped_bit_is_detected() {
        let sealed = seal(&KEY, b"ctx", b"secret");
        for i in 1..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert_eq!(
                open(&KEY, b"ctx", &tampered),
                Err(CryptoError::Decrypt),
                "byte {i}"
            );
        }
    }

    #[test]
    fn truncated_or_unknown_versions_are_malformed() {
        let sealed = seal(&KEY, b"ctx", b"secret");
        assert_eq!(open(&KEY, b"ctx", &[]), Err(CryptoError::Malformed));
        assert_eq!(
            open(&KEY, b"ctx", &sealed[..10]),
            Err(CryptoError::Malformed)
        );
        let mut other_version = sealed;
        other_version[0] = 2;
        assert_eq!(
            open(&KEY, b"ctx", &other_version),
            Err(CryptoError::Malformed)
        );
    }

    #[test]
    fn two_seals_of_one_plaintext_differ() {
        assert_ne!(seal(&KEY, b"", b"same"), seal(&KEY, b"", b"same"));
    }
}

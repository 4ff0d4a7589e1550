//! HMAC-SHA256 (RFC 2104) under a purpose key, for tokens medvault issues and checks itself
//! without storing them (e.g. proof-of-work challenges).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{KeyPurpose, MasterKey, PurposeKey};

#[derive(Debug)]
pub struct MessageSigner {
    key: PurposeKey,
}

impl MessageSigner {
    pub fn new(master: &MasterKey, purpose: KeyPurpose) -> Self {
        Self {
            key: PurposeKey::derive(master, purpose),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(self.key.expose()).expect("HMAC takes keys of any length")
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Constant-time comparison (`hmac`'s `verify_slice`).
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.mac();
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }
}

/// HMAC-SHA256 under a secret shared with a receiver (e.g. a webhook's signing secret),
/// so the receiver can check a message came from medvault unaltered.
pub struct SharedSecretSigner {
    secret: zeroize::Zeroizing<Vec<u8>>,
}

impl SharedSecretSigner {
    pub fn new(secret: &str) -> Self {
        Self {
            secret: zeroize::Zeroizing::new(secret.as_bytes().to_vec()),
        }
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for SharedSecretSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecretSigner(<redacted>)")
    }
}

/// Constant-time equality of two digests (`subtle`), for secrets checked by their digest.
pub fn digests_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_compare_equal_only_when_equal() {
        assert!(digests_equal(&[1; 32], &[1; 32]));
        let mut other = [1; 32];
        other[31] = 2;
        assert!(!digests_equal(&[1; 32], &other));
    }

    #[test]
    fn tags_verify_only_for_their_message_and_key() {
        let master = MasterKey::generate();
        let signer = MessageSigner::new(&master, KeyPurpose::Challenge);
        let tag = signer.sign(b"hello");
        assert!(signer.verify(b"hello", &tag));
        assert!(!signer.verify(b"hellp", &tag));
        assert!(!signer.verify(b"hello", &tag[..31]));
        let other = MessageSigner::new(&MasterKey::generate(), KeyPurpose::Challenge);
        assert!(!other.verify(b"hello", &tag));
        let cookie = MessageSigner::new(&master, KeyPurpose::Cookie);
        assert!(!cookie.verify(b"hello", &tag), "purposes do not share keys");
    }
}

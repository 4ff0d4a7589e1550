//! MFA recovery codes: 80 random bits shown once as `XXXX-XXXX-XXXX-XXXX` (base32), and
//! stored only as SHA-256 digests (DESIGN.md §2.4: high-entropy secrets are hashed).

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::totp::base32;

pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 10]);
        OsRng.fill_bytes(bytes.as_mut());
        let plain = base32(bytes.as_ref());
        let grouped: Vec<&str> = (0..4).map(|i| &plain[i * 4..i * 4 + 4]).collect();
        Self(Zeroizing::new(grouped.join("-")))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> [u8; 32] {
        Self::digest_of(&self.0)
    }

    /// The digest of a presented code, forgiving case, dashes and spaces.
    pub fn digest_of(presented: &str) -> [u8; 32] {
        let normalised: Zeroizing<String> = Zeroizing::new(
            presented
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_uppercase())
                .collect(),
        );
        Sha256::digest(normalised.as_bytes()).into()
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_and_their_digest_forgives_formatting() {
        let code = RecoveryCode::generate();
        assert_eq!(code.expose().len(), 19);
        assert_eq!(code.expose().matches('-').count(), 3);
        let sloppy = code.expose().to_lowercase().replace('-', " ");
        assert_eq!(RecoveryCode::digest_of(&sloppy), code.digest());
        assert_ne!(RecoveryCode::generate().digest(), code.digest());
    }
}

//! Opaque high-entropy tokens (refresh tokens, one-time codes) and their stored digests.
//!
//! 256 random bits leave nothing to brute-force, so a plain SHA-256 digest is a safe
//! stored form (DESIGN.md §2.4): the database never holds a usable token.

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub struct OpaqueToken(Zeroizing<String>);

impl OpaqueToken {
    /// 32 bytes from the OS CSPRNG, base64url without padding (43 characters).
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        Self(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
    }

    /// Wraps a token a client presented; it may be anything, so only its digest is used.
    pub fn presented(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpaqueToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_their_digests_stable() {
        let a = OpaqueToken::generate();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a.expose(), OpaqueToken::generate().expose());
        assert_eq!(
            a.digest(),
            OpaqueToken::presented(a.expose().to_owned()).digest()
        );
        assert_eq!(format!("{a:?}"), "OpaqueToken(<redacted>)");
    }
}

//! TOTP (RFC 6238) over HMAC-SHA-1 (RFC 4226), the parameters authenticator apps expect:
//! 30-second steps, 6 digits. Secrets are 160 bits from the OS CSPRNG, stored sealed under
//! the TOTP purpose key and bound to their user.

use std::fmt;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::OsRng;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::derive::{KeyPurpose, PurposeKey};
use crate::{envelope, CryptoError, MasterKey};

pub const STEP_SECS: u64 = 30;
pub const DIGITS: u32 = 6;
/// RFC 4226 §4 asks for at least 128 bits; 160 matches the SHA-1 block-size advice.
const SECRET_LEN: usize = 20;

pub struct TotpSecret {
    bytes: Zeroizing<Vec<u8>>,
}

/// The key TOTP secrets are sealed under at rest.
pub struct TotpSealKey(PurposeKey);

impl TotpSealKey {
    pub fn derive(master: &MasterKey) -> Self {
        Self(PurposeKey::derive(master, KeyPurpose::TotpSecret))
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_LEN]);
        OsRng.fill_bytes(&mut bytes);
        Self { bytes }
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// RFC 4648 base32 without padding, as authenticator apps take it.
    pub fn to_base32(&self) -> Zeroizing<String> {
        base32(&self.bytes)
    }

    /// The code for time step `step` (RFC 4226 §5.3 dynamic truncation).
    pub fn code_at(&self, step: u64) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.bytes).expect("HMAC takes any key length");
        mac.update(&step.to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = usize::from(digest[19] & 0x0f);
        let binary = u32::from_be_bytes([
            digest[offset] & 0x7f,
            digest[offset + 1],
            digest[offset + 2],
            digest[offset + 3],
        ]);
        format!(
            "{:0width$}",
            binary % 10u32.pow(DIGITS),
            width = DIGITS as usize
        )
    }

    /// The step a `code` belongs to, within ±1 step of `now_secs` and after `last_step`
    /// (a step already used is never accepted again). Compared in constant time.
    pub fn verify(&self, code: &str, now_secs: u64, last_step: u64) -> Option<u64> {
        let current = now_secs / STEP_SECS;
        let mut found = None;
        for step in [current.saturating_sub(1), current, current + 1] {
            let matches: bool = self.code_at(step).as_bytes().ct_eq(code.as_bytes()).into();
            if matches && step > last_step && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// Seals the secret for storage, bound to `owner` (e.g. the user id).
    pub fn seal(&self, key: &TotpSealKey, owner: &str) -> Vec<u8> {
        envelope::seal(key.0.expose(), &context(owner), &self.bytes)
    }

    pub fn open(key: &TotpSealKey, owner: &str, sealed: &[u8]) -> Result<Self, CryptoError> {
        let bytes = envelope::open(key.0.expose(), &context(owner), sealed)?;
        Ok(Self::from_bytes(bytes.to_vec()))
    }
}

/// RFC 4648 base32, unpadded.
pub(crate) fn base32(bytes: &[u8]) -> Zeroizing<String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Zeroizing::new(String::with_capacity(bytes.len() * 8 / 5 + 1));
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

fn context(owner: &str) -> Vec<u8> {
    format!("medvault/v1/totp\0{owner}").into_bytes()
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl fmt::Debug for TotpSealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSealKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec())
    }

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        // The RFC lists 8 digits; 6-digit codes are their last six.
        for (time, code) in [
            (59u64, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(rfc_secret().code_at(time / STEP_SECS), code, "T={time}");
        }
    }

    #[test]
    fn the_window_is_one_step_each_way_and_steps_are_single_use() {
        let secret = rfc_secret();
        let now = 1_111_111_111;
        let step = now / STEP_SECS;
        assert_eq!(
            secret.verify(&secret.code_at(step - 1), now, 0),
            Some(step - 1)
        );
        assert_eq!(
            secret.verify(&secret.code_at(step + 1), now, 0),
            Some(step + 1)
        );
        assert_eq!(secret.verify(&secret.code_at(step - 2), now, 0), None);
        assert_eq!(secret.verify(&secret.code_at(step + 2), now, 0), None);
        assert_eq!(
            secret.verify(&secret.code_at(step), now, step),
            None,
            "replay"
        );
        assert_eq!(secret.verify("12345", now, 0), None);
    }

    #[test]
    fn base32_matches_rfc4648() {
        let secret = TotpSecret::from_bytes(b"foobar".to_vec());
        assert_eq!(secret.to_base32().as_str(), "MZXW6YTBOI");
    }

    #[test]
    fn sealed_secrets_open_only_for_their_owner() {
        let key = TotpSealKey::derive(&MasterKey::generate());
        let secret = TotpSecret::generate();
        let sealed = secret.seal(&key, "user-1");
        assert_eq!(
            TotpSecret::open(&key, "user-1", &sealed)
                .unwrap()
                .code_at(1),
            secret.code_at(1)
        );
        assert!(TotpSecret::open(&key, "user-2", &sealed).is_err());
    }
}

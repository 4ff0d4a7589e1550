//! Proof-of-work bot defence. When risk is elevated, a sign-in must carry a solved
//! challenge: a nonce such that SHA-256(prefix ‖ nonce) starts with `difficulty` zero bits.
//!
//! Challenges are stateless (HMAC-signed under a key derived from the master key), live two
//! minutes and are single-use. Checking one costs the server two hashes; solving one costs
//! the client about 2^difficulty.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use medvault_crypto::mac::MessageSigner;
use medvault_domain::UnixMillis;
use serde::Serialize;
use sha2::{Digest, Sha256};

const PREFIX_LEN: usize = 16;
const TAG_LEN: usize = 32;
/// prefix ‖ difficulty ‖ expires_at (i64 BE, Unix seconds) ‖ HMAC tag.
const TOKEN_LEN: usize = PREFIX_LEN + 1 + 8 + TAG_LEN;

#[derive(Debug, Clone, Copy)]
pub struct ChallengeConfig {
    /// Failed sign-ins from one address (in its window) after which it must solve challenges.
    pub after_address_failures: u32,
    /// Consecutive failures on one account after which signing into it needs a challenge.
    pub after_account_failures: u32,
    /// Difficulty at the threshold; one more bit each time the pressure doubles.
    pub base_bits: u8,
    pub max_bits: u8,
    pub ttl_secs: i64,
}

impl Default for ChallengeConfig {
    fn default() -> Self {
        Self {
            after_address_failures: 10,
            after_account_failures: 3,
            base_bits: 16,
            max_bits: 22,
            ttl_secs: 120,
        }
    }
}

/// What a client needs to solve a challenge (documented in the README).
#[derive(Debug, Clone, Serialize)]
pub struct Challenge {
    pub alg: &'static str,
    pub prefix: String,
    pub difficulty: u8,
    /// Unix seconds.
    pub expires_at: i64,
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("the challenge token is not one medvault issued")]
    Forged,
    #[error("the challenge has expired")]
    Expired,
    #[error("the challenge is easier than the current risk requires")]
    TooEasy,
    #[error("the solution does not have enough leading zero bits")]
    Unsolved,
    #[error("the challenge was already used")]
    Replayed,
}

#[derive(Debug)]
pub struct Challenges {
    signer: MessageSigner,
    config: ChallengeConfig,
    /// Redeemed prefixes until they expire: single use without storing every challenge issued.
    spent: Mutex<HashMap<[u8; PREFIX_LEN], i64>>,
}

pub fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in hash {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

impl Challenges {
    pub fn new(signer: MessageSigner, config: ChallengeConfig) -> Self {
        Self {
            signer,
            config,
            spent: Mutex::default(),
        }
    }

    /// The difficulty the current pressure calls for, or `None` when no challenge is needed.
    pub fn difficulty(&self, address_failures: u32, account_failures: u32) -> Option<u8> {
        let c = self.config;
        let over_address = address_failures
            .checked_div(c.after_address_failures)
            .unwrap_or(0);
        let over_account = account_failures
            .checked_div(c.after_account_failures)
            .unwrap_or(0);
        let pressure = over_address.max(over_account);
        if pressure == 0 {
            return None;
        }
        let extra = u8::try_from(pressure.ilog2()).unwrap_or(u8::MAX);
        Some(c.base_bits.saturating_add(extra).min(c.max_bits))
    }

    pub fn issue(&self, difficulty: u8, now: UnixMillis) -> Challenge {
        let prefix: [u8; PREFIX_LEN] = uuid::Uuid::new_v4().into_bytes();
        let expires_at = now.as_secs() + self.config.ttl_secs;
        Challenge {
            alg: "sha256",
            prefix: URL_SAFE_NO_PAD.encode(prefix),
            difficulty,
            expires_at,
            token: URL_SAFE_NO_PAD.encode(self.token(prefix, difficulty, expires_at)),
        }
    }

    /// The signed token for a challenge; public so tests can build expired or easy ones.
    pub fn token(&self, prefix: [u8; PREFIX_LEN], difficulty: u8, expires_at: i64) -> Vec<u8> {
        let mut body = prefix.to_vec();
        body.push(difficulty);
        body.extend_from_slice(&expires_at.to_be_bytes());
        let tag = self.signer.sign(&body);
        body.extend_from_slice(&tag);
        body
    }

    /// Accepts a solved challenge at most once (in this process).
    pub fn redeem(
        &self,
        token: &str,
        nonce: &str,
        required: u8,
        now: UnixMillis,
    ) -> Result<(), ChallengeError> {
        let (prefix, expires_at) = self.verify(token, nonce, required, now)?;
        if !self.spend_locally(prefix, expires_at) {
            return Err(ChallengeError::Replayed);
        }
        Ok(())
    }

    /// Checks signature, expiry, difficulty and solution; returns the prefix and expiry the
    /// caller must mark spent (here or in Redis) before accepting.
    pub fn verify(
        &self,
        token: &str,
        nonce: &str,
        required: u8,
        now: UnixMillis,
    ) -> Result<([u8; PREFIX_LEN], i64), ChallengeError> {
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| ChallengeError::Forged)?;
        if raw.len() != TOKEN_LEN {
            return Err(ChallengeError::Forged);
        }
        let (body, tag) = raw.split_at(PREFIX_LEN + 1 + 8);
        if !self.signer.verify(body, tag) {
            return Err(ChallengeError::Forged);
        }
        let prefix: [u8; PREFIX_LEN] = body[..PREFIX_LEN].try_into().expect("fixed layout");
        let difficulty = body[PREFIX_LEN];
        let expires_at =
            i64::from_be_bytes(body[PREFIX_LEN + 1..].try_into().expect("fixed layout"));
        if now.as_secs() >= expires_at {
            return Err(ChallengeError::Expired);
        }
        if difficulty < required {
            return Err(ChallengeError::TooEasy);
        }
        // The client hashes the prefix as it received it (base64url text) followed by its nonce.
        let mut hasher = Sha256::new();
        hasher.update(URL_SAFE_NO_PAD.encode(prefix).as_bytes());
        hasher.update(nonce.as_bytes());
        if leading_zero_bits(&hasher.finalize()) < u32::from(difficulty) {
            return Err(ChallengeError::Unsolved);
        }
        Ok((prefix, expires_at))
    }

    /// Marks a challenge used in this process; `false` when it already was.
    pub fn spend_locally(&self, prefix: [u8; PREFIX_LEN], expires_at: i64) -> bool {
        self.spent
            .lock()
            .expect("challenge lock poisoned")
            .insert(prefix, expires_at)
            .is_none()
    }

    pub fn prune(&self, now: UnixMillis) {
        self.spent
            .lock()
            .expect("challenge lock poisoned")
            .retain(|_, expires| *expires > now.as_secs());
    }
}

#[cfg(test)]
mod tests {
    use medvault_crypto::{KeyPurpose, MasterKey};

    use super::*;

    fn challenges() -> Challenges {
        let signer = MessageSigner::new(&MasterKey::generate(), KeyPurpose::Challenge);
        Challenges::new(
            signer,
            ChallengeConfig {
                base_bits: 8,
                ..ChallengeConfig::default()
            },
        )
    }

    pub fn solve(challenge: &Challenge) -> String {
        (0u64..)
            .map(|n| n.to_string())
            .find(|nonce| {
                let hash = Sha256::new()
                    .chain_update(challenge.prefix.as_bytes())
                    .chain_update(nonce.as_bytes())
                    .finalize();
                leading_zero_bits(&hash) >= u32::from(challenge.difficulty)
            })
            .expect("a nonce exists")
    }

    const NOW: UnixMillis = UnixMillis(1_800_000_000_000);

    #[test]
    fn difficulty_grows_with_pressure() {
        let c = challenges();
        assert_eq!(c.difficulty(9, 2), None);
        assert_eq!(c.difficulty(10, 0), Some(8));
        assert_eq!(c.difficulty(0, 3), Some(8));
        assert_eq!(c.difficulty(40, 0), Some(10));
        assert_eq!(c.difficulty(1_000_000, 0), Some(22), "capped");
    }

    #[test]
    fn a_solved_challenge_is_accepted_once() {
        let c = challenges();
        let challenge = c.issue(8, NOW);
        let nonce = solve(&challenge);
        assert_eq!(c.redeem(&challenge.token, &nonce, 8, NOW), Ok(()));
        assert_eq!(
            c.redeem(&challenge.token, &nonce, 8, NOW),
            Err(ChallengeError::Replayed)
        );
    }

    #[test]
    fn forged_expired_easy_and_unsolved_challenges_fail() {
        let c = challenges();
        let challenge = c.issue(8, NOW);
        let nonce = solve(&challenge);
        let later = NOW.plus_secs(120);
        assert_eq!(
            c.redeem(&challenge.token, &nonce, 8, later),
            Err(ChallengeError::Expired)
        );
        assert_eq!(
            c.redeem(&challenge.token, &nonce, 9, NOW),
            Err(ChallengeError::TooEasy)
        );
        let mut tampered = URL_SAFE_NO_PAD.decode(&challenge.token).unwrap();
        tampered[PREFIX_LEN] = 0; // claim difficulty 0
        let tampered = URL_SAFE_NO_PAD.encode(tampered);
        assert_eq!(
            c.redeem(&tampered, &nonce, 0, NOW),
            Err(ChallengeError::Forged)
        );
        let unsolved = (0u64..).map(|n| n.to_string()).find(|n| {
            let hash = Sha256::new()
                .chain_update(challenge.prefix.as_bytes())
                .chain_update(n.as_bytes())
                .finalize();
            leading_zero_bits(&hash) < 8
        });
        assert_eq!(
            c.redeem(&challenge.token, &unsolved.unwrap(), 8, NOW),
            Err(ChallengeError::Unsolved)
        );
    }

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        assert_eq!(leading_zero_bits(&[0, 0, 0x1f]), 19);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }
}

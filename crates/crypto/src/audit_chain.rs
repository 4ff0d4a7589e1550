//! The audit trail's tamper evidence (HIPAA §164.312(b)): a SHA-256 hash chain over
//! canonically encoded events, and Ed25519-signed checkpoints of its head.
//!
//! Entry hash = SHA-256("medvault/audit/v1\0" ‖ seq (u64 BE) ‖ previous hash ‖ canonical form
//! of the entry's stored columns). The sequence number is bound in, so moving an entry
//! breaks it. The canonical form is defined by the store (`medvault_store::sql::rows`).

use std::fmt;

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{envelope, MasterKey};

/// The `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

pub fn entry_hash(seq: u64, prev: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"medvault/audit/v1\0");
    hasher.update(seq.to_be_bytes());
    hasher.update(prev);
    hasher.update(canonical);
    hasher.finalize().into()
}

/// What a checkpoint signs: the chain's head at `seq`, at `at` (Unix milliseconds).
pub fn checkpoint_message(seq: u64, head: &[u8; 32], at: i64) -> Vec<u8> {
    let mut message = b"medvault/audit-checkpoint/v1\0".to_vec();
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(head);
    message.extend_from_slice(&at.to_be_bytes());
    message
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointKeyError {
    #[error("the checkpoint key could not be generated")]
    Generate,
    #[error("the sealed checkpoint key does not open under this master key")]
    Unseal,
}

/// The Ed25519 key that signs checkpoints. Its private half is stored sealed under the KEK.
pub struct CheckpointKey {
    id: String,
    pair: Ed25519KeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl CheckpointKey {
    pub fn generate(id: String) -> Result<Self, CheckpointKeyError> {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| CheckpointKeyError::Generate)?;
        Self::from_pkcs8(id, Zeroizing::new(pkcs8.as_ref().to_vec()))
    }

    fn from_pkcs8(id: String, pkcs8: Zeroizing<Vec<u8>>) -> Result<Self, CheckpointKeyError> {
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| CheckpointKeyError::Unseal)?;
        Ok(Self { id, pair, pkcs8 })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The raw 32-byte public key, for publishing and verifying.
    pub fn public_key(&self) -> [u8; 32] {
        self.pair
            .public_key()
            .as_ref()
            .try_into()
            .expect("Ed25519 public keys are 32 bytes")
    }

    pub fn seal(&self, master: &MasterKey) -> Vec<u8> {
        envelope::seal(master.key_bytes(), &seal_context(&self.id), &self.pkcs8)
    }

    pub fn unseal(
        master: &MasterKey,
        id: String,
        sealed: &[u8],
    ) -> Result<Self, CheckpointKeyError> {
        let pkcs8 = envelope::open(master.key_bytes(), &seal_context(&id), sealed)
            .map_err(|_| CheckpointKeyError::Unseal)?;
        Self::from_pkcs8(id, pkcs8)
    }

    pub fn sign(&self, seq: u64, head: &[u8; 32], at: i64) -> [u8; 64] {
        let signature = self.pair.sign(&checkpoint_message(seq, head, at));
        signature
            .as_ref()
            .try_into()
            .expect("Ed25519 signatures are 64 bytes")
    }
}

fn seal_context(id: &str) -> Vec<u8> {
    format!("medvault/v1/audit-checkpoint-key\0{id}").into_bytes()
}

/// Checks a checkpoint signature against a public key (no private material needed).
pub fn verify_checkpoint(
    public_key: &[u8; 32],
    seq: u64,
    head: &[u8; 32],
    at: i64,
    signature: &[u8],
) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&checkpoint_message(seq, head, at), signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_binds_sequence_predecessor_and_content() {
        let base = entry_hash(1, &GENESIS, b"content");
        assert_eq!(base, entry_hash(1, &GENESIS, b"content"));
        assert_ne!(base, entry_hash(2, &GENESIS, b"content"));
        assert_ne!(base, entry_hash(1, &[1; 32], b"content"));
        assert_ne!(base, entry_hash(1, &GENESIS, b"contenT"));
    }

    #[test]
    fn checkpoints_verify_only_as_signed() {
        let master = MasterKey::generate();
        let key = CheckpointKey::generate("a1".into()).unwrap();
        let signature = key.sign(7, &[3; 32], 1000);
        assert!(verify_checkpoint(
            &key.public_key(),
            7,
            &[3; 32],
            1000,
            &signature
        ));
        assert!(!verify_checkpoint(
            &key.public_key(),
            8,
            &[3; 32],
            1000,
            &signature
        ));
        assert!(!verify_checkpoint(
            &key.public_key(),
            7,
            &[4; 32],
            1000,
            &signature
        ));
        let reopened = CheckpointKey::unseal(&master, "a1".into(), &key.seal(&master)).unwrap();
        assert_eq!(reopened.public_key(), key.public_key());
        assert!(CheckpointKey::unseal(&master, "a2".into(), &key.seal(&master)).is_err());
    }
}

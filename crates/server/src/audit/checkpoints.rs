//! Signed checkpoints of the chain head, kept in the database and in an append-only file
//! outside it, so rolling the database back shows up against the file.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use medvault_crypto::audit_chain::CheckpointKey;
use medvault_crypto::MasterKey;
use medvault_domain::UnixMillis;
use medvault_store::{AuditCheckpoint, AuditKeyRecord, Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot load the audit checkpoint key")]
    Store(#[from] StoreError),
    #[error("the audit checkpoint key is unusable")]
    Key(#[from] medvault_crypto::audit_chain::CheckpointKeyError),
    #[error("cannot write the checkpoint file {0}")]
    File(String, #[source] std::io::Error),
    #[error("the checkpoint file {0} is malformed at line {1}")]
    Malformed(String, usize),
}

/// One line of `audit-checkpoints.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    pub seq: u64,
    /// Hex.
    pub head_hash: String,
    /// Unix milliseconds.
    pub at: i64,
    pub key_id: String,
    /// Base64.
    pub signature: String,
}

impl From<&AuditCheckpoint> for FileCheckpoint {
    fn from(cp: &AuditCheckpoint) -> Self {
        Self {
            seq: cp.seq,
            head_hash: crate::hex::encode(&cp.head_hash),
            at: cp.at.0,
            key_id: cp.key_id.clone(),
            signature: STANDARD.encode(&cp.signature),
        }
    }
}

impl FileCheckpoint {
    /// `None` when the line's fields do not decode.
    pub fn decode(&self) -> Option<AuditCheckpoint> {
        Some(AuditCheckpoint {
            seq: self.seq,
            head_hash: crate::hex::decode(&self.head_hash)?.try_into().ok()?,
            at: UnixMillis(self.at),
            key_id: self.key_id.clone(),
            signature: STANDARD.decode(&self.signature).ok()?,
        })
    }
}

/// Signs checkpoints with the database's checkpoint key, creating it on first use.
#[derive(Debug)]
pub struct CheckpointSigner {
    key: CheckpointKey,
    file: PathBuf,
}

impl CheckpointSigner {
    pub async fn load(
        store: &dyn Store,
        master: &MasterKey,
        file: PathBuf,
    ) -> Result<Self, CheckpointError> {
        let key = match load_key(store, master).await? {
            Some(key) => key,
            None => {
                let key = CheckpointKey::generate(uuid::Uuid::new_v4().simple().to_string())?;
                let record = AuditKeyRecord {
                    key_id: key.id().to_owned(),
                    sealed_private: key.seal(master),
                    public_key: key.public_key().to_vec(),
                    created_at: crate::clock::now(),
                };
                match store.insert_audit_key(&record).await {
                    Ok(()) => key,
                    // Another instance created it first: use theirs.
                    Err(StoreError::Conflict) => {
                        load_key(store, master).await?.ok_or(StoreError::NotFound)?
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        };
        Ok(Self { key, file })
    }

    pub fn key(&self) -> &CheckpointKey {
        &self.key
    }

    /// Signs the head, stores the checkpoint, and appends it to the file durably.
    pub async fn checkpoint(
        &self,
        store: &dyn Store,
        seq: u64,
        head: [u8; 32],
    ) -> Result<(), CheckpointError> {
        let at = crate::clock::now();
        let checkpoint = AuditCheckpoint {
            seq,
            head_hash: head,
            at,
            key_id: self.key.id().to_owned(),
            signature: self.key.sign(seq, &head, at.0).to_vec(),
        };
        match store.insert_audit_checkpoint(&checkpoint).await {
            // Another instance checkpointed this very head; both signatures are valid.
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(err) => return Err(err.into()),
        }
        let mut line = serde_json::to_vec(&FileCheckpoint::from(&checkpoint))
            .expect("a checkpoint serializes");
        line.push(b'\n');
        let shown = self.file.display().to_string();
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .map_err(|e| CheckpointError::File(shown.clone(), e))?;
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| CheckpointError::File(shown, e))?;
        Ok(())
    }
}

/// The checkpoint key, unsealed under the master key. The public key is derived from the
/// sealed private key, so a substituted public key in the database cannot fool a verifier.
pub async fn load_key(
    store: &dyn Store,
    master: &MasterKey,
) -> Result<Option<CheckpointKey>, CheckpointError> {
    match store.audit_key().await? {
        Some(record) => Ok(Some(CheckpointKey::unseal(
            master,
            record.key_id,
            &record.sealed_private,
        )?)),
        None => Ok(None),
    }
}

/// Every checkpoint in the file; an absent file has none.
pub fn read_file(path: &std::path::Path) -> Result<Vec<AuditCheckpoint>, CheckpointError> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(CheckpointError::File(shown, err)),
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str::<FileCheckpoint>(line)
                .ok()
                .and_then(|cp| cp.decode())
                .ok_or_else(|| CheckpointError::Malformed(shown.clone(), n + 1))
        })
        .collect()
}

//! `medvault keys rotate-master`: moves the database to a new master key (DESIGN.md §3).
//!
//! Every data key (patients', the system key, the blind-index root) is re-wrapped, and the
//! token-signing and checkpoint keys are re-sealed; no record body is touched. The run is
//! resumable: the next key is kept in `master.key.next` (or comes from
//! `MEDVAULT_NEW_MASTER_KEY`) until the very end, each step skips what is already done,
//! and the database names the new key only once everything is under it. Run it with the
//! servers stopped: a running server holds the old key.

use std::path::{Path, PathBuf};

use medvault_crypto::audit_chain::CheckpointKey;
use medvault_crypto::jwt::SigningKey;
use medvault_crypto::{
    rewrap, FileKeyProvider, KeyProvider, KeyProviderError, KeyShare, MasterKey,
};
use medvault_domain::{AuditAction, AuditedResource, MasterKeyId, PatientId};
use medvault_store::{OpenError, StoreError};

use crate::audit::{AuditConfig, AuditTrail};
use crate::config::Database;
use crate::fhir::gate::keys::has_share;

/// Where the file provider keeps the next key while a rotation is under way.
pub const NEXT_FILE: &str = "master.key.next";
/// Where the new key comes from when the current one is in `MEDVAULT_MASTER_KEY`.
pub const NEW_KEY_VAR: &str = "MEDVAULT_NEW_MASTER_KEY";
const BATCH: u32 = 500;

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Provider(#[from] KeyProviderError),
    #[error("cannot create the data dir {0}")]
    DataDir(String, #[source] std::io::Error),
    #[error("{0} holds no master key to rotate from")]
    NoCurrentKey(String),
    #[error("{NEW_KEY_VAR} must hold the new key (base64, 256 bits) when the current key comes from the environment")]
    NeedNewKey,
    #[error("the new master key is the current one")]
    Same,
    #[error("the database is sealed to key {recorded}, which is neither the current key {current} nor the new key {next}")]
    Unrelated {
        recorded: MasterKeyId,
        current: MasterKeyId,
        next: MasterKeyId,
    },
    #[error("the data key in slot {0} does not unwrap under the current master key")]
    Unwrap(PatientId),
    #[error("the {0} opens under neither the current nor the new master key")]
    Reseal(String),
    #[error("cannot read or update the database")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] crate::audit::checkpoints::CheckpointError),
    #[error("the audit trail could not record the rotation; nothing was changed")]
    AuditUnavailable,
    #[error("cannot put the new key in place at {0}")]
    Install(String, #[source] std::io::Error),
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotated {
    pub new_id: MasterKeyId,
    pub rewrapped: u64,
    pub resealed: u32,
    /// The new key must now be given as `MEDVAULT_MASTER_KEY` (it came from the environment).
    pub from_env: bool,
}

/// Where the keys of this rotation live.
struct Keys {
    current: MasterKey,
    next: MasterKey,
    /// The file the next key waits in, for the file provider.
    next_file: Option<FileKeyProvider>,
    current_file: PathBuf,
}

fn keys(data_dir: &Path) -> Result<Keys, RotateError> {
    let provider = super::provider(data_dir);
    let current = provider
        .load()?
        .ok_or_else(|| RotateError::NoCurrentKey(provider.describe()))?;
    let current_file = data_dir.join(FileKeyProvider::FILE_NAME);
    let (next, next_file) = match std::env::var(NEW_KEY_VAR) {
        Ok(text) => (
            MasterKey::from_base64(text.trim()).map_err(|_| RotateError::NeedNewKey)?,
            None,
        ),
        Err(_) if std::env::var_os(medvault_crypto::EnvKeyProvider::VAR).is_some() => {
            return Err(RotateError::NeedNewKey)
        }
        Err(_) => {
            let file = FileKeyProvider::at(data_dir.join(NEXT_FILE));
            let next = match file.load()? {
                Some(key) => key,
                None => file.create()?,
            };
            (next, Some(file))
        }
    };
    if next.id() == current.id() {
        return Err(RotateError::Same);
    }
    Ok(Keys {
        current,
        next,
        next_file,
        current_file,
    })
}

pub async fn run(
    data_dir: &Path,
    database: &Database,
    audit: AuditConfig,
) -> Result<Rotated, RotateError> {
    crate::storage::ensure_data_dir(data_dir)
        .map_err(|e| RotateError::DataDir(data_dir.display().to_string(), e))?;
    let keys = keys(data_dir)?;
    let stores = crate::storage::Stores::open(database).await?;
    let result = rotate(&stores, &keys, audit).await;
    stores.close().await;
    let rotated = result?;
    install(&keys)?;
    Ok(rotated)
}

async fn rotate(
    stores: &crate::storage::Stores,
    keys: &Keys,
    audit: AuditConfig,
) -> Result<Rotated, RotateError> {
    let (store, shared) = (stores.records.as_ref(), stores.records.clone());
    let (current, next) = (&keys.current, &keys.next);
    let recorded = store.master_key_id().await?;
    let mut rotated = Rotated {
        new_id: next.id(),
        rewrapped: 0,
        resealed: 0,
        from_env: keys.next_file.is_none(),
    };
    match recorded {
        // A previous run switched the database; only the key file remains to be moved.
        Some(id) if id == next.id() => return Ok(rotated),
        Some(id) if id == current.id() => {}
        Some(recorded) => {
            return Err(RotateError::Unrelated {
                recorded,
                current: current.id(),
                next: next.id(),
            })
        }
        None => return Err(RotateError::Store(StoreError::NotFound)),
    }
    // The checkpoint key may already be re-sealed by an interrupted run.
    let trail = match AuditTrail::start(shared.clone(), current, audit.clone()).await {
        Ok(trail) => trail,
        Err(_) => AuditTrail::start(shared, next, audit).await?,
    };
    let resource = AuditedResource {
        kind: "MasterKey".into(),
        id: next.id().to_string(),
    };
    let event = crate::audit::system_event(AuditAction::KeysRotate, Some(resource));
    let recorded = trail.append(event).await;
    if recorded.is_err() {
        trail.close().await;
        return Err(RotateError::AuditUnavailable);
    }
    let moved = move_everything(stores, current, next, &mut rotated).await;
    trail.close().await;
    moved?;
    store
        .replace_master_key_id(&current.id(), &next.id())
        .await?;
    Ok(rotated)
}

async fn move_everything(
    stores: &crate::storage::Stores,
    current: &MasterKey,
    next: &MasterKey,
    rotated: &mut Rotated,
) -> Result<(), RotateError> {
    let store = stores.records.as_ref();
    loop {
        let batch = store.data_keys_wrapped_by(&current.id(), BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for wrapped in batch {
            let share = match has_share(wrapped.patient) {
                // The reserved slots (system, index root) are wrapped by the KEK alone.
                false => None,
                true => match stores.vault.key_share(wrapped.patient).await {
                    Ok(record) => Some(
                        KeyShare::from_bytes(&record.share)
                            .map_err(|_| RotateError::Unwrap(wrapped.patient))?,
                    ),
                    // No share: a key from before shares (wrapped by the KEK alone), or
                    // the share of an erased patient. Only the vault's record of the
                    // erasure allows destroying the key; anything else stops the rotation.
                    Err(StoreError::NotFound) => {
                        if stores.vault.was_erased(wrapped.patient).await? {
                            store.destroy_data_key(wrapped.patient).await?;
                            continue;
                        }
                        None
                    }
                    Err(err) => return Err(err.into()),
                },
            };
            let moved = rewrap(&wrapped, current, next, share.as_ref())
                .map_err(|_| RotateError::Unwrap(wrapped.patient))?;
            match store.rewrap_data_key(&current.id(), &moved).await {
                // Another run moved it meanwhile: nothing to do.
                Ok(()) | Err(StoreError::Conflict) => rotated.rewrapped += 1,
                Err(err) => return Err(err.into()),
            }
        }
    }
    for key in store.published_signing_keys().await? {
        if SigningKey::unseal(next, key.kid.clone(), &key.sealed_private).is_ok() {
            continue;
        }
        let opened = SigningKey::unseal(current, key.kid.clone(), &key.sealed_private)
            .map_err(|_| RotateError::Reseal(format!("signing key {}", key.kid)))?;
        store
            .reseal_signing_key(&key.kid, &opened.seal(next))
            .await?;
        rotated.resealed += 1;
    }
    if let Some(record) = store.audit_key().await? {
        let under_next = CheckpointKey::unseal(next, record.key_id.clone(), &record.sealed_private);
        if under_next.is_err() {
            let opened =
                CheckpointKey::unseal(current, record.key_id.clone(), &record.sealed_private)
                    .map_err(|_| RotateError::Reseal("audit checkpoint key".into()))?;
            store.reseal_audit_key(&opened.seal(next)).await?;
            rotated.resealed += 1;
        }
    }
    Ok(())
}

/// Moves the next key file over the current one (atomically, durably). The old key is
/// gone afterwards: backups of the database must be restored with the key they were
/// taken under.
fn install(keys: &Keys) -> Result<(), RotateError> {
    let Some(next_file) = &keys.next_file else {
        return Ok(());
    };
    let target = &keys.current_file;
    let failed = |e| RotateError::Install(target.display().to_string(), e);
    std::fs::rename(next_file.path(), target).map_err(failed)?;
    if let Some(dir) = target.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(failed)?;
    }
    Ok(())
}

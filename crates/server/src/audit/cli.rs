//! `medvault audit verify [--from SEQ]`.

use std::path::Path;

use medvault_crypto::MasterKey;
use medvault_store::Store;

use super::checkpoints;
use super::verify::{self, Damage};

/// Why verification could not run (as opposed to finding damage).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Checkpoint(#[from] checkpoints::CheckpointError),
    #[error("cannot read the audit trail")]
    Store(#[from] medvault_store::StoreError),
}

/// `Ok(Ok(summary))` when intact, `Ok(Err(damage))` when tampered with.
pub async fn run(
    store: std::sync::Arc<dyn Store>,
    master: &MasterKey,
    checkpoint_file: &Path,
    from: u64,
    retention: super::retention::Retention,
) -> Result<Result<String, Damage>, VerifyError> {
    let Some(key) = checkpoints::load_key(store.as_ref(), master).await? else {
        let (seq, _) = store.audit_head().await?;
        if seq == 0 {
            return Ok(Ok("audit trail intact: no entries yet".to_owned()));
        }
        // Entries exist but the key that signed their checkpoints is gone.
        let detail = "the checkpoint key is missing from the database".to_owned();
        return Ok(Err(Damage {
            seq: 1,
            kind: verify::DamageKind::ForgedCheckpoint,
            detail,
        }));
    };
    let file = checkpoints::read_file(checkpoint_file)?;
    let file_count = file.len();
    let outcome = verify::verify(store.clone(), &key.public_key(), file, from, retention).await?;
    Ok(outcome.map(|intact| {
        format!(
            "audit trail intact: entries {}..={} ({} verified), {} signed checkpoints, {} in {}",
            intact.first_seq,
            intact.last_seq,
            intact.entries,
            intact.checkpoints,
            file_count,
            checkpoint_file.display()
        )
    }))
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--since must be a date (YYYY-MM-DD) or an RFC 3339 date-time")]
    Since,
    #[error("--format must be jsonl")]
    Format,
    #[error("cannot read the audit trail")]
    Store(#[from] medvault_store::StoreError),
    #[error("cannot write the export")]
    Write(#[from] std::io::Error),
}

/// `medvault audit export --since T --format jsonl`: one JSON object per entry from `since`
/// on, for SIEM ingestion. Streams page by page, so memory stays flat.
pub async fn export(
    store: &dyn Store,
    since: &str,
    format: &str,
    out: &mut impl std::io::Write,
) -> Result<u64, ExportError> {
    if format != "jsonl" {
        return Err(ExportError::Format);
    }
    let (since, _) = super::fhir_search::instant_range(since).ok_or(ExportError::Since)?;
    let mut from = 1;
    let mut written = 0;
    loop {
        let page = store.audit_entries(from, 10_000).await?;
        for entry in &page {
            if entry.event.at.0 < since {
                continue;
            }
            let line = serde_json::json!({
                "seq": entry.seq,
                "hash": crate::hex::encode(&entry.hash),
                "prev_hash": crate::hex::encode(&entry.prev_hash),
                "recorded": crate::identity::api::views::rfc3339(entry.event.at),
                "event": entry.event,
            });
            writeln!(out, "{line}")?;
            written += 1;
        }
        match page.last() {
            Some(last) if page.len() == 10_000 => from = last.seq + 1,
            _ => break,
        }
    }
    out.flush()?;
    Ok(written)
}

/// `medvault audit prune`: applies the retention period now (the server does it hourly).
pub async fn prune(
    store: &dyn Store,
    trail: &super::AuditTrail,
    retention: super::retention::Retention,
) -> Result<String, medvault_store::StoreError> {
    let outcome = super::retention::prune(store, retention, crate::clock::now()).await?;
    let Some((deleted, anchor)) = outcome else {
        return Ok("nothing is older than the retention period".to_owned());
    };
    let resource = medvault_domain::AuditedResource {
        kind: "AuditCheckpoint".into(),
        id: anchor.to_string(),
    };
    let event = super::system_event(medvault_domain::AuditAction::AuditPrune, Some(resource));
    super::record(trail, event)
        .await
        .map_err(|e| medvault_store::StoreError::Backend(Box::new(e)))?;
    Ok(format!("pruned {deleted} audit entries through {anchor}; the chain verifies from the checkpoint at {anchor}"))
}

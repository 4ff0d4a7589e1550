//! Erasure (GDPR Art. 17) by crypto-shredding. In order:
//!
//! 1. the erasure is queued, unless a legal hold keeps the records (one statement, so a
//!    hold placed meanwhile wins);
//! 2. it is audited, under the patient's subject, before anything is destroyed;
//! 3. the sessions of the patient's accounts are revoked;
//! 4. the patient's key share is destroyed in the key vault: from here on their records
//!    are unreadable everywhere, every backup included, and the trail's entries about them
//!    no longer link to them;
//! 5. their records, data key and accounts are deleted in one transaction.
//!
//! A crash after 1 leaves the erasure queued; [`Eraser::resume`] (run at start) finishes it.

use std::collections::HashSet;
use std::time::Instant;

use medvault_domain::{AuditAction, AuditEvent, AuditedResource, PatientId, SessionId};
use medvault_store::{LegalHold, Store, StoreError, UserFilter};
use serde::Serialize;
use utoipa::ToSchema;

use crate::audit::AuditTrail;
use crate::fhir::gate::keys::{has_share, DataKeys, KeyError};

const RECONCILE_BATCH: u32 = 500;

/// What it takes to erase: the records database, the keys (and through them the key
/// vault), and the trail. Shared by the API and the CLI.
#[derive(Debug, Clone, Copy)]
pub struct Eraser<'a> {
    pub store: &'a dyn Store,
    pub keys: &'a DataKeys,
    pub trail: &'a AuditTrail,
}

/// The outcome of an erasure.
#[derive(Debug, Serialize, ToSchema)]
pub struct Erased {
    pub patient: String,
    pub erased_at: String,
    /// Resources deleted, and versions of them (every version is erased).
    pub resources: u64,
    pub versions: u64,
    /// Accounts deleted (the patient's own login).
    pub users: u64,
    /// Milliseconds from the start until the records were unreadable everywhere.
    pub unreadable_after_ms: u64,
    /// Milliseconds until every row was deleted.
    pub total_ms: u64,
    #[serde(skip)]
    pub ended_sessions: Vec<SessionId>,
}

#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("no such patient")]
    NotFound,
    #[error("a legal hold keeps the patient's records")]
    Held(LegalHold),
    #[error("the audit trail is unavailable; nothing was erased")]
    AuditUnavailable,
    #[error("the key vault or the database failed")]
    Store(#[from] StoreError),
    #[error("the key vault failed")]
    Keys(#[from] KeyError),
    #[error("{0} patients' data keys have neither a key share nor a record of erasure in the key vault: is it the right one (keyvault.db, --key-vault-url)?")]
    WrongVault(usize),
}

impl<'a> Eraser<'a> {
    /// The server's eraser.
    pub fn of(state: &'a crate::AppState) -> Self {
        Self {
            store: state.store.as_ref(),
            keys: state.fhir.gate.keys(),
            trail: &state.audit,
        }
    }

    /// Whether `patient` has anything to erase: a key share, a data key (rows restored
    /// from a backup taken before their erasure), or an erasure under way. Never the
    /// reserved slots (the system compartment and the blind-index root).
    pub async fn exists(&self, patient: PatientId) -> Result<bool, EraseError> {
        if !has_share(patient) {
            return Ok(false);
        }
        if self.keys.share(patient).await?.is_some() {
            return Ok(true);
        }
        match self.store.data_key(patient).await {
            Ok(_) => return Ok(true),
            Err(StoreError::NotFound) => {}
            Err(err) => return Err(err.into()),
        }
        Ok(self.store.pending_erasures().await?.contains(&patient))
    }

    /// Erases `patient`. `event` says who asks, from where, and why (`erase`, or a
    /// retention purge); it is recorded before anything happens.
    pub async fn erase(&self, patient: PatientId, event: AuditEvent) -> Result<Erased, EraseError> {
        let started = Instant::now();
        if !self.exists(patient).await? {
            return Err(EraseError::NotFound);
        }
        if let Some(hold) = self.store.legal_hold(patient).await? {
            return Err(EraseError::Held(hold));
        }
        let event = self.about(patient, event).await?;
        self.trail
            .append(event.clone())
            .await
            .map_err(|_| EraseError::AuditUnavailable)?;
        match self.store.begin_erasure(patient, crate::clock::now()).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                // A hold placed since the check above won: say so in the trail too.
                let refused = AuditEvent {
                    outcome: medvault_domain::Outcome::Denied,
                    ..event
                };
                self.trail
                    .append(refused)
                    .await
                    .map_err(|_| EraseError::AuditUnavailable)?;
                return match self.store.legal_hold(patient).await? {
                    Some(hold) => Err(EraseError::Held(hold)),
                    None => Err(StoreError::Conflict.into()),
                };
            }
            Err(err) => return Err(err.into()),
        }
        let ended_sessions = self.revoke_sessions(patient).await?;
        self.keys.destroy(patient).await?;
        let unreadable = started.elapsed();
        let rows = self.store.complete_erasure(patient).await?;
        // A read that fetched the keys before they were destroyed may have cached them.
        self.keys.forget(patient);
        Ok(Erased {
            patient: patient.to_string(),
            erased_at: crate::identity::api::views::rfc3339(crate::clock::now()),
            resources: rows.resources,
            versions: rows.versions,
            users: rows.users,
            unreadable_after_ms: millis(unreadable),
            total_ms: millis(started.elapsed()),
            ended_sessions,
        })
    }

    /// `event`, about the patient: named by their subject while they have one.
    async fn about(&self, patient: PatientId, event: AuditEvent) -> Result<AuditEvent, EraseError> {
        let subject = self.keys.subject(patient).await?;
        Ok(AuditEvent {
            resource: subject.as_ref().map(|s| AuditedResource {
                kind: "Patient".into(),
                id: s.0.clone(),
            }),
            patient: subject,
            ..event
        })
    }

    /// Finishes erasures a crash interrupted (each was audited when it began; finishing
    /// is audited as the system's). Returns how many.
    pub async fn resume(&self) -> Result<usize, EraseError> {
        let pending = self.store.pending_erasures().await?;
        for &patient in &pending {
            let event = crate::audit::system_event(AuditAction::Erase, None);
            let event = self.about(patient, event).await?;
            self.trail
                .append(event)
                .await
                .map_err(|_| EraseError::AuditUnavailable)?;
            self.revoke_sessions(patient).await?;
            self.keys.destroy(patient).await?;
            self.store.complete_erasure(patient).await?;
            self.keys.forget(patient);
        }
        Ok(pending.len())
    }

    /// Sweeps the data keys whose patient has no key share. A key the vault records as
    /// erased came back with a backup restored from before the erasure: its rows are
    /// erased again, so nothing erased returns. A key wrapped by the KEK alone (from before
    /// shares) is adopted. Any other means the key vault is not the one these records
    /// belong to, and is an error: nothing is deleted on a guess. Returns (adopted, erased).
    pub async fn reconcile(&self) -> Result<(usize, usize), EraseError> {
        let (mut adopted, mut erased, mut unexplained) = (0, 0, 0);
        let mut after = None;
        loop {
            let slots = self.store.data_key_slots(after, RECONCILE_BATCH).await?;
            let Some(&last) = slots.last() else {
                break;
            };
            after = Some(last);
            let patients: Vec<PatientId> = slots.into_iter().filter(|s| has_share(*s)).collect();
            let shared: HashSet<PatientId> = self
                .keys
                .vault()
                .patients_with_shares(&patients)
                .await?
                .into_iter()
                .collect();
            for patient in patients.into_iter().filter(|p| !shared.contains(p)) {
                if self.keys.vault().was_erased(patient).await? {
                    if self.erase_restored(patient).await? {
                        erased += 1;
                    }
                } else if self.keys.adopt_legacy(patient).await? {
                    adopted += 1;
                } else {
                    unexplained += 1;
                }
            }
        }
        if unexplained > 0 {
            return Err(EraseError::WrongVault(unexplained));
        }
        Ok((adopted, erased))
    }

    /// Erases the restored rows of an erased patient; `false` when a legal hold (restored
    /// with them) keeps them, which an administrator must resolve.
    async fn erase_restored(&self, patient: PatientId) -> Result<bool, EraseError> {
        if self.store.legal_hold(patient).await?.is_some() {
            tracing::warn!("restored rows of an erased patient are under a legal hold");
            return Ok(false);
        }
        let event = crate::audit::system_event(AuditAction::Erase, None);
        self.trail
            .append(event)
            .await
            .map_err(|_| EraseError::AuditUnavailable)?;
        match self.store.begin_erasure(patient, crate::clock::now()).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Ok(false),
            Err(err) => return Err(err.into()),
        }
        self.revoke_sessions(patient).await?;
        match self.store.complete_erasure(patient).await {
            // Completed by a concurrent erasure: just as good.
            Ok(_) | Err(StoreError::NotFound) => Ok(true),
            Err(err) => Err(err.into()),
        }
    }

    /// Ends the sessions of the accounts linked to `patient`, so fleets learn of it too.
    async fn revoke_sessions(&self, patient: PatientId) -> Result<Vec<SessionId>, StoreError> {
        let filter = UserFilter {
            patient: Some(patient),
            ..UserFilter::default()
        };
        let mut ended = Vec::new();
        for user in self.store.list_users(&filter, None, 10).await? {
            ended.extend(
                self.store
                    .revoke_sessions_of(user.id, None, crate::clock::now())
                    .await?,
            );
        }
        Ok(ended)
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What an operator's CLI command erases with: keys of its own beside any server.
pub fn operator_keys(operator: &crate::storage::Operator) -> DataKeys {
    DataKeys::new(
        operator.store.clone(),
        operator.vault.clone(),
        operator.master.clone(),
        16,
    )
}

/// `medvault privacy erase --patient ID`: the operator's erasure, audited as the system's.
pub async fn erase_at_cli(
    operator: &crate::storage::Operator,
    patient: PatientId,
) -> Result<String, EraseError> {
    let keys = operator_keys(operator);
    let eraser = Eraser {
        store: operator.store.as_ref(),
        keys: &keys,
        trail: &operator.trail,
    };
    let event = crate::audit::system_event(AuditAction::Erase, None);
    let erased = eraser.erase(patient, event).await?;
    Ok(format!(
        "erased patient {}: unreadable after {} ms; {} resources ({} versions) and {} accounts deleted",
        erased.patient, erased.unreadable_after_ms, erased.resources, erased.versions, erased.users
    ))
}

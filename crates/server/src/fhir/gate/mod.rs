//! The PHI gate: the single way to records. Every interaction is *authorized*, then
//! *audited* (durably, before any plaintext exists), then *decrypted* (DESIGN.md §1).
//! Decryption is private to this module, so no other code path can reach plaintext.

pub mod access;
mod commit;
pub mod keys;
mod listing;
mod writer;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::StatusCode;
use medvault_crypto::blind_index::BlindIndexKey;
use medvault_crypto::MasterKey;
use medvault_domain::{
    Actor, AuditAction, AuditEvent, Compartment, FhirId, Outcome, PatientId, PurposeOfUse,
    ResourceType, UnixMillis,
};
use medvault_store::{RecordVersion, Store, StoreError};
use serde_json::Value;

use self::access::{Access, Accessor, Decision};
use self::keys::{DataKeys, KeyError};
use crate::audit::AuditTrail;
use crate::fhir::OperationOutcome;
use crate::http::RequestContext;

#[derive(Debug)]
pub struct Gate {
    store: Arc<dyn Store>,
    writer: writer::RecordWriter,
    keys: DataKeys,
    audit: Arc<AuditTrail>,
    index: BlindIndexKey,
}

/// A record as the gate hands it out: its plaintext envelope and, unless it is a
/// deletion, its decrypted body.
pub struct Opened {
    pub record: RecordVersion,
    pub resource: Option<Value>,
}

/// One page of a listing, and where the next one starts.
#[derive(Debug)]
pub struct Page {
    pub entries: Vec<Opened>,
    pub next: Option<(ResourceType, FhirId)>,
}

/// A new version ready to be sealed and stored.
pub struct PendingWrite {
    pub resource_type: ResourceType,
    pub id: FhirId,
    pub version: u64,
    pub expected_version: Option<u64>,
    pub last_updated: UnixMillis,
    pub compartment: Compartment,
    /// `None` for a deletion.
    pub resource: Option<Value>,
    pub tokens: Vec<Vec<u8>>,
}

/// Who is asking, and the request they ask in (for the audit trail).
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub who: &'a Accessor,
    pub context: &'a RequestContext,
}

impl Gate {
    pub async fn start(
        stores: &crate::storage::Stores,
        master: Arc<MasterKey>,
        audit: Arc<AuditTrail>,
        cache_capacity: usize,
    ) -> Result<Self, KeyError> {
        let store = stores.records.clone();
        let keys = DataKeys::new(store.clone(), stores.vault.clone(), master, cache_capacity);
        keys.ensure_system_key().await?;
        let index = keys.index_key().await?;
        Ok(Self {
            writer: writer::RecordWriter::start(store.clone()),
            store,
            keys,
            audit,
            index,
        })
    }

    pub fn index(&self) -> &BlindIndexKey {
        &self.index
    }

    /// Whether `caller` may `access` a record of this type in this compartment, as a
    /// FHIR error when not. Refusals are audited.
    pub async fn authorize(
        &self,
        caller: Caller<'_>,
        access: Access,
        resource_type: ResourceType,
        id: &FhirId,
        compartment: Compartment,
    ) -> Result<(), OperationOutcome> {
        match caller.who.decide(access, resource_type, compartment) {
            Decision::Permit => Ok(()),
            refusal => {
                let action = match access {
                    Access::Read => AuditAction::FhirRead,
                    Access::Write => AuditAction::FhirUpdate,
                };
                let event = self
                    .event(
                        caller,
                        action,
                        Outcome::Denied,
                        Some((resource_type, id)),
                        compartment.patient(),
                    )
                    .await?;
                self.record(vec![event]).await?;
                Err(refused(refusal))
            }
        }
    }

    /// The current version (or one version) of a record.
    pub async fn read(
        &self,
        caller: Caller<'_>,
        resource_type: ResourceType,
        id: &FhirId,
        version: Option<u64>,
    ) -> Result<Opened, OperationOutcome> {
        let record = self
            .store
            .record(resource_type, id, version)
            .await
            .map_err(not_found)?;
        self.authorize(caller, Access::Read, resource_type, id, record.compartment)
            .await?;
        let event = self
            .event(
                caller,
                AuditAction::FhirRead,
                Outcome::Success,
                Some((resource_type, id)),
                record.compartment.patient(),
            )
            .await?;
        self.record(vec![event]).await?;
        self.open(caller, record).await
    }

    /// The envelope of the current version, for writers (no plaintext, no audit).
    pub async fn current(
        &self,
        resource_type: ResourceType,
        id: &FhirId,
    ) -> Result<Option<RecordVersion>, OperationOutcome> {
        match self.store.record(resource_type, id, None).await {
            Ok(record) => Ok(Some(record)),
            Err(StoreError::NotFound) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Authorizes, audits (one event per patient) and decrypts listed records; records the
    /// caller may not read are left out.
    async fn open_listed(
        &self,
        caller: Caller<'_>,
        action: AuditAction,
        records: Vec<RecordVersion>,
    ) -> Result<Vec<Opened>, OperationOutcome> {
        let records: Vec<RecordVersion> = records
            .into_iter()
            .filter(|r| {
                caller
                    .who
                    .decide(Access::Read, r.resource_type, r.compartment)
                    == Decision::Permit
            })
            .collect();
        let patients: BTreeSet<Option<PatientId>> =
            records.iter().map(|r| r.compartment.patient()).collect();
        let mut events = Vec::with_capacity(patients.len());
        for patient in patients {
            events.push(
                self.event(caller, action, Outcome::Success, None, patient)
                    .await?,
            );
        }
        self.record(events).await?;
        let mut opened = Vec::with_capacity(records.len());
        for record in records {
            opened.push(self.open(caller, record).await?);
        }
        Ok(opened)
    }

    /// Decrypts one record. Only ever called after its access was audited.
    async fn open(
        &self,
        caller: Caller<'_>,
        record: RecordVersion,
    ) -> Result<Opened, OperationOutcome> {
        if record.deleted {
            return Ok(Opened {
                record,
                resource: None,
            });
        }
        let slot = record.compartment.key_slot();
        let key = self.keys.get(slot).await.map_err(key_error)?;
        let context = seal_context(record.resource_type, &record.id, record.version, slot);
        let plaintext = key.open(&context, &record.sealed);
        let resource = plaintext
            .ok()
            .and_then(|p| serde_json::from_slice::<Value>(&p).ok());
        let Some(resource) = resource else {
            // A body that does not open under its own envelope was altered or moved.
            tracing::error!(resource_type = %record.resource_type, id = %record.id, version = record.version,
                "a stored record failed its integrity check");
            let event = self
                .event(
                    caller,
                    AuditAction::FhirRead,
                    Outcome::Error,
                    Some((record.resource_type, &record.id)),
                    record.compartment.patient(),
                )
                .await?;
            self.record(vec![event]).await?;
            return Err(OperationOutcome::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "a stored record failed its integrity check and was not returned",
            ));
        };
        Ok(Opened {
            record,
            resource: Some(resource),
        })
    }

    /// An event of `caller`'s about a record. The patient is named by their audit subject,
    /// and so is a Patient resource (its id is the patient's).
    async fn event(
        &self,
        caller: Caller<'_>,
        action: AuditAction,
        outcome: Outcome,
        resource: Option<(ResourceType, &FhirId)>,
        patient: Option<PatientId>,
    ) -> Result<AuditEvent, OperationOutcome> {
        let subject = match patient {
            Some(patient) => self.keys.subject(patient).await.map_err(key_error)?,
            None => None,
        };
        let mut event = match (&caller.who.client, caller.who.operator) {
            (Some(grant), _) => {
                let actor = Actor::Client {
                    id: grant.client_id.clone(),
                };
                crate::audit::event(caller.context, actor, action, outcome)
            }
            (None, true) => crate::audit::event(caller.context, Actor::System, action, outcome),
            (None, false) => {
                let actor = Actor::User {
                    id: caller.who.user_id,
                    roles: caller.who.roles.clone(),
                };
                crate::audit::with_session(
                    crate::audit::event(caller.context, actor, action, outcome),
                    caller.who.session_id,
                )
            }
        };
        if let Some((t, id)) = resource {
            event = match (&subject, t) {
                (Some(subject), ResourceType::Patient) => {
                    crate::audit::about(event, t.as_str(), &subject.0)
                }
                // A Patient without a subject (unknown, being erased, or from before
                // subjects): its id would name the patient, so it is left out.
                (None, ResourceType::Patient) => crate::audit::about(event, t.as_str(), "-"),
                _ => crate::audit::about(event, t.as_str(), id),
            };
        }
        event.patient = subject;
        event.purpose = Some(PurposeOfUse::Treatment);
        Ok(event)
    }

    /// The patients' audit subjects and key shares, for the erasure and export services.
    pub fn keys(&self) -> &DataKeys {
        &self.keys
    }

    /// Fails closed: no plaintext is produced when the trail cannot be written.
    async fn record(&self, events: Vec<AuditEvent>) -> Result<(), OperationOutcome> {
        if events.is_empty() {
            return Ok(());
        }
        self.audit.append_all(events).await.map_err(|_| {
            OperationOutcome::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "transient",
                "the audit trail is unavailable; nothing was read or written",
            )
        })
    }
}

/// The associated data of a record body: a ciphertext opens only as the version it was
/// written for (DESIGN.md §2.2).
fn seal_context(
    resource_type: ResourceType,
    id: &FhirId,
    version: u64,
    slot: PatientId,
) -> Vec<u8> {
    format!("medvault/v1/record\0{resource_type}\0{id}\0{version}\0{slot}").into_bytes()
}

fn refused(decision: Decision) -> OperationOutcome {
    match decision {
        Decision::Hidden => {
            OperationOutcome::new(StatusCode::NOT_FOUND, "not-found", "no such resource")
        }
        _ => OperationOutcome::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your roles do not permit this",
        ),
    }
}

fn not_found(err: StoreError) -> OperationOutcome {
    match err {
        StoreError::NotFound => {
            OperationOutcome::new(StatusCode::NOT_FOUND, "not-found", "no such resource")
        }
        other => other.into(),
    }
}

fn key_error(err: KeyError) -> OperationOutcome {
    match err {
        KeyError::Store(StoreError::NotFound) => {
            tracing::error!("a record's data key is missing");
            OperationOutcome::new(
                StatusCode::GONE,
                "deleted",
                "the record's key has been destroyed",
            )
        }
        KeyError::Erased => OperationOutcome::new(
            StatusCode::GONE,
            "deleted",
            "the patient's records were erased",
        ),
        KeyError::Store(other) => other.into(),
        KeyError::Unwrap => {
            tracing::error!("a data key failed to unwrap under the master key");
            OperationOutcome::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "a data key failed its integrity check",
            )
        }
    }
}

// Bodies, codes and tokens: never in Debug output.
crate::redact::redacted_debug!(Opened, PendingWrite);

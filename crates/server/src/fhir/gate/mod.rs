//! The PHI gate: the single way to records. Every interaction is *authorized*, then
//! *audited* (durably, before any plaintext exists), then *decrypted* (DESIGN.md §1).
//! Decryption is private to this module, so no other code path can reach plaintext.

pub mod access;
mod commit;
mod decide;
mod research;
pub use self::research::ResearchPage;
pub mod keys;
mod listing;
mod writer;

use std::collections::{BTreeMap, BTreeSet};
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

use self::access::{Accessor, Action, Permit};
use self::decide::{Decided, Detail, FactsCache, Memo};
use self::keys::{DataKeys, KeyError};
use crate::access::Engine;
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
    /// Keys research pseudonyms (see `research.rs`).
    pseudonyms: BlindIndexKey,
    engine: Arc<Engine>,
    facts: FactsCache,
    /// Seals listing cursors (the system compartment's key).
    cursors: Arc<medvault_crypto::DataKey>,
}

/// A record as the gate hands it out: its plaintext envelope and, unless it is a
/// deletion, its decrypted body.
pub struct Opened {
    pub record: RecordVersion,
    pub resource: Option<Value>,
}

/// One page of a listing, and where the next one starts: a cursor sealed by the gate, so
/// it names nothing, not even a record the caller may not see (see [`Gate::cursor`]).
#[derive(Debug)]
pub struct Page {
    pub entries: Vec<Opened>,
    pub next: Option<String>,
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
    /// The gate's permission for exactly this write.
    pub permit: Permit,
}

impl PendingWrite {
    fn action(&self) -> Action {
        Action::of_write(self.resource.is_some(), self.expected_version.is_some())
    }
}

/// A write for [`Gate::authorize_write`] to judge.
#[derive(Debug, Clone, Copy)]
pub struct Proposed<'a> {
    pub resource_type: ResourceType,
    pub id: &'a FhirId,
    pub compartment: Compartment,
    /// The new body; `None` for a deletion.
    pub body: Option<&'a Value>,
    /// The current version; `None` for a create.
    pub current: Option<&'a RecordVersion>,
    /// A new Patient, or a record for a Patient created in the same transaction.
    pub registering: bool,
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
        engine: Arc<Engine>,
        cache_capacity: usize,
    ) -> Result<Self, KeyError> {
        let store = stores.records.clone();
        let keys = DataKeys::new(store.clone(), stores.vault.clone(), master, cache_capacity);
        keys.ensure_system_key().await?;
        let index = keys.index_key().await?;
        let pseudonyms = keys.pseudonym_key().await?;
        let cursors = keys.get(Compartment::System.key_slot()).await?;
        Ok(Self {
            writer: writer::RecordWriter::start(store.clone()),
            store,
            keys,
            audit,
            index,
            pseudonyms,
            engine,
            facts: FactsCache::default(),
            cursors,
        })
    }

    pub fn index(&self) -> &BlindIndexKey {
        &self.index
    }

    /// Asks the access policies whether `caller` may read `id`. A refusal is audited and
    /// answers 404, exactly as a missing record does (no existence oracle).
    /// `epoch` is the patient's access epoch when it was read with the record.
    pub async fn authorize_read(
        &self,
        caller: Caller<'_>,
        resource_type: ResourceType,
        id: &FhirId,
        compartment: Compartment,
        epoch: Option<u64>,
    ) -> Result<Permit, OperationOutcome> {
        let detail = Detail {
            known_epoch: epoch,
            ..Detail::default()
        };
        self.authorize(caller, Action::Read, resource_type, id, compartment, detail)
            .await
    }

    /// Whether `who` may read `record`, without auditing: for checks whose answer never
    /// leaves the server (e.g. that a reference points at something the writer may see).
    pub async fn may_read(
        &self,
        who: &Accessor,
        record: &RecordVersion,
    ) -> Result<bool, OperationOutcome> {
        let detail = Detail {
            known_epoch: Some(record.access_epoch),
            ..Detail::default()
        };
        let decided = self
            .decide(
                who,
                Action::Read,
                record.resource_type,
                record.compartment,
                detail,
                &mut Memo::new(),
            )
            .await?;
        Ok(decided.permit)
    }

    /// Asks whether `caller` may write `body` (`None`: delete) over `current` (`None`:
    /// create); `registering` when it creates a new Patient or a record for a Patient
    /// created alongside. Refusals are audited. A create answers 403 whether or not the
    /// patient exists; a change answers 403 when the caller may read the record and 404
    /// when they may not (as if it did not exist).
    pub async fn authorize_write(
        &self,
        caller: Caller<'_>,
        proposed: Proposed<'_>,
    ) -> Result<Permit, OperationOutcome> {
        let Proposed {
            resource_type,
            id,
            compartment,
            body,
            current,
            registering,
        } = proposed;
        let action = Action::of_write(body.is_some(), current.is_some());
        let mut detail = Detail {
            registering: registering && action == Action::Create,
            self_reported: false,
            known_epoch: current.map(|c| c.access_epoch),
        };
        // Only a patient's own Observations can be self-reported, so only then are the
        // bodies involved (the new one and the current one) read.
        if let (ResourceType::Observation, Compartment::Patient(patient)) =
            (resource_type, compartment)
        {
            if caller.who.patient == Some(patient) {
                let reported = |b: &Value| crate::access::facts::self_reported(b, patient);
                let new_ok = body.is_none_or(reported);
                let current_ok = match current {
                    Some(record) if !record.deleted => {
                        self.unseal(record).await?.as_ref().is_some_and(|b| {
                            crate::access::facts::self_reported_version(b, patient)
                        })
                    }
                    // A deleted record is not revived by its patient.
                    Some(_) => false,
                    None => true,
                };
                detail.self_reported = new_ok && current_ok;
            }
        }
        self.authorize(caller, action, resource_type, id, compartment, detail)
            .await
    }

    async fn authorize(
        &self,
        caller: Caller<'_>,
        action: Action,
        resource_type: ResourceType,
        id: &FhirId,
        compartment: Compartment,
        detail: Detail,
    ) -> Result<Permit, OperationOutcome> {
        let mut memo = Memo::new();
        let decided = self
            .decide(
                caller.who,
                action,
                resource_type,
                compartment,
                detail,
                &mut memo,
            )
            .await?;
        if decided.permit {
            return Ok(Permit {
                action,
                resource_type,
                id: id.clone(),
                compartment,
                policies: decided.policies,
                purpose: decided.purpose,
            });
        }
        let event = self
            .event(
                caller,
                audit_action(action),
                Outcome::Denied,
                Some((resource_type, id)),
                compartment.patient(),
            )
            .await?;
        self.record(vec![annotated(event, &decided)]).await?;
        let visible = match action {
            Action::Create => true,
            Action::Read | Action::Research => false,
            Action::Update | Action::Delete => {
                let read = Detail {
                    known_epoch: detail.known_epoch,
                    ..Detail::default()
                };
                self.decide(
                    caller.who,
                    Action::Read,
                    resource_type,
                    compartment,
                    read,
                    &mut memo,
                )
                .await?
                .permit
            }
        };
        Err(match visible {
            true => OperationOutcome::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the access policies do not permit this",
            ),
            false => not_found(StoreError::NotFound),
        })
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
        let permit = self
            .authorize_read(
                caller,
                resource_type,
                id,
                record.compartment,
                Some(record.access_epoch),
            )
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
        self.record(vec![permit.annotate(event)]).await?;
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
        // Each record is decided on its own; one event per patient names the policies
        // that permitted what was shown (and the purpose: emergency access stands out).
        let mut memo = Memo::new();
        let mut permitted = Vec::with_capacity(records.len());
        let mut patients: BTreeMap<Option<PatientId>, (BTreeSet<String>, PurposeOfUse)> =
            BTreeMap::new();
        for record in records {
            let decided = self
                .decide(
                    caller.who,
                    Action::Read,
                    record.resource_type,
                    record.compartment,
                    Detail {
                        known_epoch: Some(record.access_epoch),
                        ..Detail::default()
                    },
                    &mut memo,
                )
                .await?;
            if !decided.permit {
                continue;
            }
            let entry = patients
                .entry(record.compartment.patient())
                .or_insert_with(|| (BTreeSet::new(), decided.purpose));
            entry.0.extend(decided.policies);
            if decided.purpose == PurposeOfUse::BreakGlass {
                entry.1 = PurposeOfUse::BreakGlass;
            }
            permitted.push(record);
        }
        let records = permitted;
        let mut events = Vec::with_capacity(patients.len());
        for (patient, (policies, purpose)) in patients {
            let event = self
                .event(caller, action, Outcome::Success, None, patient)
                .await?;
            let decided = Decided {
                permit: true,
                policies: policies.into_iter().collect(),
                purpose,
            };
            events.push(annotated(event, &decided));
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
        let Some(resource) = self.unseal(&record).await? else {
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

    /// The body of a stored version, or `None` when it fails its integrity check (logged
    /// by the caller). Private to the gate: callers audit before plaintext leaves it.
    async fn unseal(&self, record: &RecordVersion) -> Result<Option<Value>, OperationOutcome> {
        let slot = record.compartment.key_slot();
        let key = self.keys.get(slot).await.map_err(key_error)?;
        let context = seal_context(record.resource_type, &record.id, record.version, slot);
        Ok(key
            .open(&context, &record.sealed)
            .ok()
            .and_then(|p| serde_json::from_slice::<Value>(&p).ok()))
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

    /// A listing cursor: where a page ends, sealed so that it reveals nothing (a search
    /// may stop at a record the caller may not read).
    pub fn cursor(&self, (resource_type, id): &(ResourceType, FhirId)) -> String {
        use base64::Engine as _;
        let sealed = self
            .cursors
            .seal(CURSOR_CONTEXT, format!("{resource_type}/{id}").as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
    }

    /// Opens a [`Gate::cursor`], of `resource_type` when given.
    pub fn open_cursor(
        &self,
        text: &str,
        resource_type: Option<ResourceType>,
    ) -> Result<(ResourceType, FhirId), OperationOutcome> {
        use base64::Engine as _;
        let malformed = || OperationOutcome::invalid("_cursor is malformed");
        let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| malformed())?;
        let plain = self
            .cursors
            .open(CURSOR_CONTEXT, &sealed)
            .map_err(|_| malformed())?;
        let plain = std::str::from_utf8(&plain).map_err(|_| malformed())?;
        let (t, id) = plain.split_once('/').ok_or_else(malformed)?;
        let t: ResourceType = t.parse().map_err(|_| malformed())?;
        if resource_type.is_some_and(|wanted| wanted != t) {
            return Err(malformed());
        }
        Ok((t, id.parse().map_err(|_| malformed())?))
    }

    /// Seals a note about a patient (e.g. why emergency access was taken) under their
    /// data key, bound to `label`: erasure takes it along.
    pub async fn seal_note(
        &self,
        patient: PatientId,
        label: &str,
        note: &[u8],
    ) -> Result<Vec<u8>, OperationOutcome> {
        let key = self.keys.get(patient).await.map_err(key_error)?;
        Ok(key.seal(&note_context(label, patient), note))
    }

    /// Opens a note sealed by [`Gate::seal_note`]; `None` when it does not open.
    pub async fn open_note(
        &self,
        patient: PatientId,
        label: &str,
        sealed: &[u8],
    ) -> Result<Option<Vec<u8>>, OperationOutcome> {
        let key = self.keys.get(patient).await.map_err(key_error)?;
        Ok(key
            .open(&note_context(label, patient), sealed)
            .ok()
            .map(|note| note.to_vec()))
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

const CURSOR_CONTEXT: &[u8] = b"medvault/v1/listing-cursor";

fn note_context(label: &str, patient: PatientId) -> Vec<u8> {
    format!("medvault/v1/note\0{label}\0{patient}").into_bytes()
}

fn audit_action(action: Action) -> AuditAction {
    match action {
        Action::Read => AuditAction::FhirRead,
        Action::Create => AuditAction::FhirCreate,
        Action::Update => AuditAction::FhirUpdate,
        Action::Delete => AuditAction::FhirDelete,
        Action::Research => AuditAction::Export,
    }
}

/// An event with the policies that decided it and the purpose they served.
fn annotated(mut event: AuditEvent, decided: &Decided) -> AuditEvent {
    event.policy = match (decided.permit, decided.policies.is_empty()) {
        (_, false) => Some(decided.policies.join(" ")),
        // Refused because no policy permitted it (Cedar's default deny).
        (false, true) => Some("no-permit".to_owned()),
        (true, true) => None,
    };
    event.purpose = Some(decided.purpose);
    event
}

impl Permit {
    fn annotate(&self, event: AuditEvent) -> AuditEvent {
        annotated(
            event,
            &Decided {
                permit: true,
                policies: self.policies.clone(),
                purpose: self.purpose,
            },
        )
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

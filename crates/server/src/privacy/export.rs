//! The caller's data export: NDJSON, one record per line, written as it is read so memory
//! stays flat however large the record. Lines, in order: `export` (what this is), `profile`,
//! `session`s, `resource` versions (every version, deletions included), `access` (who
//! accessed the record), and `processing` (purposes and retention of each category).

use axum::body::Bytes;
use medvault_domain::{AuditAction, FhirId, Outcome, PatientId, ResourceType, User};
use medvault_store::AuditFilter;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use crate::fhir::gate::access::Accessor;
use crate::fhir::gate::Caller;
use crate::fhir::resource::instant;
use crate::http::RequestContext;
use crate::{ApiError, AppState};

const PAGE: u32 = 200;

/// Where export lines go; a closed receiver (the client left) ends the export.
pub type Lines = Sender<Result<Bytes, std::io::Error>>;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the export could not be read")]
    Api(#[from] ApiError),
    #[error("the stored records could not be read")]
    Records(String),
    #[error("the client went away")]
    Gone,
}

impl From<crate::fhir::OperationOutcome> for ExportError {
    fn from(outcome: crate::fhir::OperationOutcome) -> Self {
        Self::Records(outcome.resource()["issue"][0]["diagnostics"].to_string())
    }
}

impl From<medvault_store::StoreError> for ExportError {
    fn from(err: medvault_store::StoreError) -> Self {
        Self::Api(err.into())
    }
}

pub async fn send(lines: &Lines, line: Value) -> Result<(), ExportError> {
    let mut text = line.to_string();
    text.push('\n');
    lines
        .send(Ok(Bytes::from(text)))
        .await
        .map_err(|_| ExportError::Gone)
}

/// Records that the export happened, before anything of it is sent (fail closed).
pub async fn audit_start(
    state: &AppState,
    context: &RequestContext,
    who: &Accessor,
) -> Result<(), ApiError> {
    let actor = medvault_domain::Actor::User {
        id: who.user_id,
        roles: who.roles.clone(),
    };
    let mut event = crate::audit::event(context, actor, AuditAction::Export, Outcome::Success);
    event.patient = crate::audit::subjects::of(state.fhir.gate.keys(), who.patient).await?;
    let event = crate::audit::about(
        crate::audit::with_session(event, who.session_id),
        "User",
        who.user_id,
    );
    crate::audit::record(&state.audit, event).await
}

/// What an export reads from: the server's state, or the operator's stores at the CLI.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub store: &'a dyn medvault_store::Store,
    pub gate: &'a crate::fhir::gate::Gate,
    /// Session idle and absolute timeouts, for the processing record.
    pub session_secs: (i64, i64),
}

impl<'a> Source<'a> {
    pub fn of(state: &'a AppState) -> Self {
        let config = &state.identity.config;
        Self {
            store: state.store.as_ref(),
            gate: &state.fhir.gate,
            session_secs: (config.session_idle_secs, config.session_absolute_secs),
        }
    }
}

/// Writes the export of `user` (their profile and sessions) and of `patient` (every
/// version of their records and who accessed them); either may be absent.
pub async fn write(
    source: Source<'_>,
    context: &RequestContext,
    who: &Accessor,
    user: Option<&User>,
    patient: Option<PatientId>,
    lines: &Lines,
) -> Result<(), ExportError> {
    let now = crate::clock::now();
    send(
        lines,
        json!({"kind": "export", "format": "medvault-export/1", "generated_at": instant(now),
        "user_id": user.map(|u| u.id.to_string()), "patient": patient.map(|p| p.to_string())}),
    )
    .await?;
    if let Some(user) = user {
        send(
            lines,
            json!({"kind": "profile", "user": crate::identity::api::views::UserView::from(user)}),
        )
        .await?;
        for session in source.store.live_sessions(user.id, now).await? {
            send(
                lines,
                json!({"kind": "session", "session": {
                    "id": session.id.to_string(),
                    "created_at": instant(session.created_at),
                    "last_seen_at": instant(session.last_seen_at),
                    "ip": session.ip,
                    "user_agent": session.user_agent,
                    "amr": session.amr,
                }}),
            )
            .await?;
        }
    }
    if let Some(patient) = patient {
        records(source, &Caller { who, context }, patient, lines).await?;
        accesses(source, patient, lines).await?;
    }
    send(lines, processing(source)).await
}

/// Every version of the patient's records, deletions included.
async fn records(
    source: Source<'_>,
    caller: &Caller<'_>,
    patient: PatientId,
    lines: &Lines,
) -> Result<(), ExportError> {
    let mut after: Option<(ResourceType, FhirId, u64)> = None;
    loop {
        let page = source
            .gate
            .export_versions(*caller, patient, after.as_ref(), PAGE)
            .await?;
        for opened in &page {
            let r = &opened.record;
            send(
                lines,
                json!({"kind": "resource", "resourceType": r.resource_type.as_str(),
                "id": r.id.as_str(), "version": r.version, "lastUpdated": instant(r.last_updated),
                "deleted": r.deleted, "resource": opened.resource}),
            )
            .await?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => {
                after = Some((
                    last.record.resource_type,
                    last.record.id.clone(),
                    last.record.version,
                ));
            }
            _ => return Ok(()),
        }
    }
}

/// Who accessed the patient's records, from the audit trail.
async fn accesses(
    source: Source<'_>,
    patient: PatientId,
    lines: &Lines,
) -> Result<(), ExportError> {
    let subject = crate::audit::subjects::search_value(source.gate.keys(), &patient.to_string())
        .await
        .map_err(ExportError::Api)?;
    let filter = AuditFilter {
        patient: Some(subject),
        ..AuditFilter::default()
    };
    let mut names = crate::audit::access_log::Names::default();
    let mut from = 0;
    loop {
        let found = source
            .store
            .search_audit_entries(&filter, from, PAGE)
            .await?;
        for entry in &found {
            let access =
                crate::audit::access_log::describe(source.store, &mut names, &entry.event).await?;
            send(lines, json!({"kind": "access", "access": access})).await?;
        }
        match found.last() {
            Some(last) if found.len() == PAGE as usize => from = last.seq,
            _ => return Ok(()),
        }
    }
}

/// What is kept, why, and for how long (GDPR Art. 15(1)(a), (d)).
fn processing(source: Source<'_>) -> Value {
    let (idle, absolute) = source.session_secs;
    let categories =
        super::categories::categories(idle, absolute, "the configured audit retention");
    json!({"kind": "processing", "categories": categories})
}

/// `medvault privacy export --patient ID`: the operator exports on a patient's behalf
/// (an access request received by the privacy officer), to `out`, streamed.
pub async fn export_at_cli(
    operator: &crate::storage::Operator,
    patient: PatientId,
    session_secs: (i64, i64),
    out: &mut (dyn std::io::Write + Send),
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let stores = crate::storage::Stores {
        records: operator.store.clone(),
        vault: operator.vault.clone(),
    };
    let gate = crate::fhir::gate::Gate::start(
        &stores,
        operator.master.clone(),
        operator.trail.clone(),
        // The operator reads without asking the policies (see `Accessor::operator`).
        std::sync::Arc::new(crate::access::Engine::new()),
        16,
    )
    .await?;
    let eraser = super::erasure::Eraser {
        store: operator.store.as_ref(),
        keys: gate.keys(),
        trail: &operator.trail,
    };
    if !eraser.exists(patient).await? {
        return Err("no such patient".into());
    }
    let linked = medvault_store::UserFilter {
        patient: Some(patient),
        ..medvault_store::UserFilter::default()
    };
    let user = operator.store.list_users(&linked, None, 1).await?.pop();
    let source = Source {
        store: operator.store.as_ref(),
        gate: &gate,
        session_secs,
    };
    let context = RequestContext {
        request_id: None,
        ip: None,
        user_agent: None,
    };
    let who = Accessor::operator();
    let (lines, mut receiver) = tokio::sync::mpsc::channel(16);
    let writing = async move {
        let written = write(source, &context, &who, user.as_ref(), Some(patient), &lines).await;
        drop(lines);
        written
    };
    let draining = async {
        while let Some(line) = receiver.recv().await {
            out.write_all(&line?)?;
        }
        out.flush()
    };
    let (written, drained) = tokio::join!(writing, draining);
    written?;
    drained?;
    Ok(())
}

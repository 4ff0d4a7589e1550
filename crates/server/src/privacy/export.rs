//! The caller's data export: NDJSON, one record per line, written as it is read so memory
//! stays flat however large the record. Lines, in order: `export` (what this is), `profile`,
//! `session`s, `resource` versions (every version, deletions included), `access` (who
//! accessed the record), and `processing` (purposes and retention of each category).

use axum::body::Bytes;
use medvault_domain::{AuditAction, FhirId, Outcome, ResourceType, User};
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

async fn send(lines: &Lines, line: Value) -> Result<(), ExportError> {
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

pub async fn write(
    state: &AppState,
    context: &RequestContext,
    who: &Accessor,
    user: &User,
    lines: &Lines,
) -> Result<(), ExportError> {
    let now = crate::clock::now();
    send(lines, json!({"kind": "export", "format": "medvault-export/1", "generated_at": instant(now), "user_id": user.id.to_string()})).await?;
    send(
        lines,
        json!({"kind": "profile", "user": crate::identity::api::views::UserView::from(user)}),
    )
    .await?;
    for session in state.store.live_sessions(user.id, now).await? {
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
    if let Some(patient) = user.patient_id {
        let caller = Caller { who, context };
        let mut after: Option<(ResourceType, FhirId, u64)> = None;
        loop {
            let page = state
                .fhir
                .gate
                .export_versions(caller, patient, after.as_ref(), PAGE)
                .await?;
            for opened in &page {
                let r = &opened.record;
                send(lines, json!({"kind": "resource", "resourceType": r.resource_type.as_str(),
                    "id": r.id.as_str(), "version": r.version, "lastUpdated": instant(r.last_updated),
                    "deleted": r.deleted, "resource": opened.resource})).await?;
            }
            match page.last() {
                Some(last) if page.len() == PAGE as usize => {
                    after = Some((
                        last.record.resource_type,
                        last.record.id.clone(),
                        last.record.version,
                    ));
                }
                _ => break,
            }
        }
        let subject =
            crate::audit::subjects::search_value(state.fhir.gate.keys(), &patient.to_string())
                .await
                .map_err(ExportError::Api)?;
        let filter = AuditFilter {
            patient: Some(subject),
            ..AuditFilter::default()
        };
        let mut names = std::collections::HashMap::new();
        let mut from = 0;
        loop {
            let found = state
                .store
                .search_audit_entries(&filter, from, PAGE)
                .await?;
            for entry in &found {
                let access =
                    crate::audit::access_log::describe(state, &mut names, &entry.event).await?;
                send(lines, json!({"kind": "access", "access": access})).await?;
            }
            match found.last() {
                Some(last) if found.len() == PAGE as usize => from = last.seq,
                _ => break,
            }
        }
    }
    send(lines, processing(state)).await
}

/// What is kept, why, and for how long (GDPR Art. 15(1)(a), (d)).
fn processing(state: &AppState) -> Value {
    let config = &state.identity.config;
    let categories = super::categories::categories(
        config.session_idle_secs,
        config.session_absolute_secs,
        "the configured audit retention",
    );
    json!({"kind": "processing", "categories": categories})
}

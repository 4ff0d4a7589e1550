//! The audit context. Every other context records events through [`record`]; until the
//! hash-chained trail lands, events go to the `audit_events` table as they are.

use medvault_domain::{Actor, AuditAction, AuditEvent, AuditedResource, Outcome, SessionId};
use medvault_store::Store;

use crate::http::RequestContext;
use crate::ApiError;

/// Appends one event. Fails closed: when the trail cannot be written, the caller's
/// operation fails too (DESIGN.md §2.6).
pub async fn record(store: &dyn Store, event: AuditEvent) -> Result<(), ApiError> {
    store
        .append_audit_event(&event)
        .await
        .map(|_| ())
        .map_err(ApiError::internal)
}

/// An event about the current request, with its id and source filled in.
pub fn event(
    context: &RequestContext,
    actor: Actor,
    action: AuditAction,
    outcome: Outcome,
) -> AuditEvent {
    AuditEvent {
        at: crate::clock::now(),
        actor,
        action,
        outcome,
        resource: None,
        patient: None,
        purpose: None,
        session: None,
        source_ip: context.ip.clone(),
        request_id: context.request_id.clone(),
    }
}

/// An event raised by the operator at the CLI.
pub fn system_event(action: AuditAction, resource: Option<AuditedResource>) -> AuditEvent {
    AuditEvent {
        at: crate::clock::now(),
        actor: Actor::System,
        action,
        outcome: Outcome::Success,
        resource,
        patient: None,
        purpose: None,
        session: None,
        source_ip: None,
        request_id: None,
    }
}

pub fn with_session(mut event: AuditEvent, session: SessionId) -> AuditEvent {
    event.session = Some(session);
    event
}

pub fn about(mut event: AuditEvent, kind: &str, id: impl ToString) -> AuditEvent {
    event.resource = Some(AuditedResource {
        kind: kind.to_owned(),
        id: id.to_string(),
    });
    event
}

//! The audit context: the tamper-evident trail (a hash chain with signed checkpoints) that
//! every other context records its events in through [`record`].

pub mod access_log;
pub mod api;
pub mod checkpoints;
pub mod cli;
mod fhir_render;
pub mod fhir_search;
pub mod retention;
pub mod subjects;
pub mod trail;
pub mod verify;

use medvault_domain::{Actor, AuditAction, AuditEvent, AuditedResource, Outcome, SessionId};

use crate::http::RequestContext;
use crate::ApiError;

pub use trail::{AuditConfig, AuditTrail};

/// Appends one event, durably. Fails closed: when the trail cannot be written, the
/// caller's operation fails too (DESIGN.md §2.6).
pub async fn record(trail: &AuditTrail, event: AuditEvent) -> Result<(), ApiError> {
    trail
        .append(event)
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
        policy: None,
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
        policy: None,
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

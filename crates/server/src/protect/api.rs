//! `GET /api/v1/admin/security-events`: lockouts, blocked addresses, refresh-token reuse and
//! break-the-glass, newest last, for admins and auditors.

use axum::extract::{Query, State};
use axum::Json;
use medvault_domain::{Actor, Role};
use medvault_store::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::identity::api::views::rfc3339;
use crate::identity::Principal;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(security_events))
}

const MAX_PAGE: u32 = 200;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// The `next` cursor of the previous page.
    after: Option<u64>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEvent {
    /// The audit trail's sequence number.
    seq: u64,
    at: String,
    /// `security.lockout`, `security.ip_blocked`, `token.reuse_detected` or `break_glass`.
    kind: &'static str,
    /// The account concerned, when known.
    user_id: Option<String>,
    source_ip: Option<String>,
    request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecurityEventPage {
    events: Vec<SecurityEvent>,
    next: Option<u64>,
}

/// Security events, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/security-events", tag = "admin", security(("bearer" = [])),
    params(EventQuery), responses(
    (status = 200, description = "A page of security events", body = SecurityEventPage),
    (status = 403, description = "Caller is neither admin nor auditor", content_type = "application/problem+json"),
))]
async fn security_events(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<EventQuery>,
) -> Result<Json<SecurityEventPage>, ApiError> {
    if !principal
        .roles
        .iter()
        .any(|r| matches!(r, Role::Admin | Role::Auditor))
    {
        return Err(ApiError::Forbidden);
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::Unprocessable {
            detail: format!("limit is 1 to {MAX_PAGE}"),
        });
    }
    let filter = AuditFilter {
        actions: super::SECURITY_EVENTS.iter().map(|a| a.code()).collect(),
        ..AuditFilter::default()
    };
    let found = state
        .store
        .search_audit_entries(&filter, query.after.unwrap_or(0), limit)
        .await?;
    let next = (found.len() == limit as usize)
        .then(|| found.last().map(|e| e.seq))
        .flatten();
    let events = found
        .iter()
        .map(|entry| {
            let event = &entry.event;
            let user_id = match (&event.actor, &event.resource) {
                (Actor::User { id, .. }, _) => Some(id.to_string()),
                (_, Some(resource)) if resource.kind == "User" => Some(resource.id.clone()),
                _ => None,
            };
            SecurityEvent {
                seq: entry.seq,
                at: rfc3339(event.at),
                kind: event.action.code(),
                user_id,
                source_ip: event.source_ip.clone(),
                request_id: event.request_id.clone(),
            }
        })
        .collect();
    Ok(Json(SecurityEventPage { events, next }))
}

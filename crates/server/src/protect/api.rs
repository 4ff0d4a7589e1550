//! `GET /api/v1/admin/security-events`: lockouts, blocked addresses, refresh-token reuse and
//! break-the-glass, newest last, for admins and auditors.

use axum::extract::{Query, State};
use axum::Json;
use medvault_domain::{Actor, Role};
use medvault_store::AuditFilter;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::paging::SeqPage;
use crate::identity::api::views::rfc3339;
use crate::identity::Principal;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(security_events))
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
    params(SeqPage), responses(
    (status = 200, description = "A page of security events", body = SecurityEventPage),
    (status = 403, description = "Caller is neither admin nor auditor", content_type = "application/problem+json"),
))]
async fn security_events(
    State(state): State<AppState>,
    principal: Principal,
    Query(page): Query<SeqPage>,
) -> Result<Json<SecurityEventPage>, ApiError> {
    if !principal
        .roles
        .iter()
        .any(|r| matches!(r, Role::Admin | Role::Auditor))
    {
        return Err(ApiError::Forbidden);
    }
    let limit = page.limit()?;
    let filter = AuditFilter {
        actions: super::SECURITY_EVENTS.iter().map(|a| a.code()).collect(),
        ..AuditFilter::default()
    };
    let found = state
        .store
        .search_audit_entries(&filter, page.after(), limit)
        .await?;
    let next = SeqPage::next(&found, limit);
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

//! Break-the-glass (HIPAA §164.312(a)(2)(ii), emergency access): a physician or nurse
//! takes time-limited access to one patient, stating why. The grant is a security event
//! for the privacy officer; every access under it is audited with purpose `break_glass`
//! and shows in the patient's access log. What a grant permits is the policies' to say
//! (`context.breakGlass`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use medvault_domain::{AuditAction, PatientId, PurposeOfUse, Role, UnixMillis};
use medvault_store::BreakGlassGrant;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::{ApiJson, RequestContext};
use crate::identity::Principal;
use crate::{ApiError, AppState};

/// The label a grant's reason is sealed under.
const REASON: &str = "break-glass-reason";
const MAX_REASON_CHARS: usize = 1_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(take))
        .routes(routes!(list))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TakeAccess {
    /// The Patient's id.
    patient: String,
    /// Why: required, shown to the privacy officer.
    reason: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    id: String,
    user_id: String,
    patient: String,
    /// The stated reason; absent once the patient was erased.
    reason: Option<String>,
    created_at: String,
    expires_at: String,
    active: bool,
}

/// Take emergency access to one patient's records for a limited time (default one hour).
/// Needs a recent second factor when the account has one (or the role requires one).
#[utoipa::path(post, path = "/api/v1/break-glass", tag = "access", security(("bearer" = [])),
    request_body = TakeAccess, responses(
    (status = 201, description = "Access granted until `expires_at`", body = GrantView),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
    (status = 403, description = "Only physicians and nurses break the glass", content_type = "application/problem+json"),
    (status = 404, description = "No such patient", content_type = "application/problem+json"),
    (status = 422, description = "A reason is required", content_type = "application/problem+json"),
))]
async fn take(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    ApiJson(body): ApiJson<TakeAccess>,
) -> Result<(StatusCode, Json<GrantView>), ApiError> {
    if !principal
        .roles
        .iter()
        .any(|r| matches!(r, Role::Physician | Role::Nurse))
    {
        return Err(ApiError::Forbidden);
    }
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::Unprocessable {
            detail: format!("a reason of 1 to {MAX_REASON_CHARS} characters is required"),
        });
    }
    crate::mfa::step_up::require_recent_mfa(&state, &principal).await?;
    let patient: PatientId = body.patient.parse().map_err(|_| ApiError::NotFound)?;
    let gate = &state.fhir.gate;
    let exists = gate
        .current(medvault_domain::ResourceType::Patient, &patient.into())
        .await?
        .is_some_and(|r| !r.deleted);
    if !exists {
        return Err(ApiError::NotFound);
    }
    let now = crate::clock::now();
    let grant = BreakGlassGrant {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: principal.user_id,
        patient,
        reason_sealed: gate.seal_note(patient, REASON, reason.as_bytes()).await?,
        created_at: now,
        expires_at: now.plus_secs(i64::from(state.fhir.break_glass_secs)),
    };
    // The security event names the patient by their audit subject, never by id, and
    // leaves the reason out (it may hold clinical detail); it is recorded before the
    // grant exists (fail closed).
    let subject = gate
        .keys()
        .subject(patient)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut event = principal.event(&context, AuditAction::BreakGlass);
    event = crate::audit::about(event, "BreakGlassGrant", &grant.id);
    event.patient = subject;
    event.purpose = Some(PurposeOfUse::BreakGlass);
    crate::protect::security_event(&state, event).await?;
    state.store.insert_break_glass(&grant).await?;
    Ok((
        StatusCode::CREATED,
        Json(view(&grant, Some(reason.to_owned()), now)),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// The `next` cursor of the previous page.
    before: Option<String>,
    /// At most this many (1 to 200, default 50).
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantPage {
    grants: Vec<GrantView>,
    /// Pass as `before` for the next page.
    next: Option<String>,
}

/// Every break-the-glass grant, active and past, newest first: for the privacy officer
/// (admins and auditors). Reading a grant's reason is audited, per patient.
#[utoipa::path(get, path = "/api/v1/admin/break-glass", tag = "admin", security(("bearer" = [])),
    params(ListQuery), responses(
    (status = 200, description = "Grants, newest first", body = GrantPage),
    (status = 403, description = "Caller is neither an admin nor an auditor", content_type = "application/problem+json"),
))]
async fn list(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<Json<GrantPage>, ApiError> {
    if !principal
        .roles
        .iter()
        .any(|r| matches!(r, Role::Admin | Role::Auditor))
    {
        return Err(ApiError::Forbidden);
    }
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let before = match query.before.as_deref() {
        None => None,
        Some(cursor) => Some(parse_cursor(cursor).ok_or(ApiError::InvalidRequest {
            detail: "`before` is the `next` of a previous page",
        })?),
    };
    let grants = state.store.break_glass_grants(before, limit).await?;
    let now = crate::clock::now();
    let gate = &state.fhir.gate;
    // Reasons are read only once their reading is on the record (fail closed).
    let mut events = Vec::with_capacity(grants.len());
    for grant in &grants {
        let mut event = principal.event(&context, AuditAction::BreakGlassReview);
        event = crate::audit::about(event, "BreakGlassGrant", &grant.id);
        event.patient = gate
            .keys()
            .subject(grant.patient)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        events.push(event);
    }
    state
        .audit
        .append_all(events)
        .await
        .map_err(|_| ApiError::Unavailable {
            detail: "the audit trail is unavailable; nothing was read",
        })?;
    let mut views = Vec::with_capacity(grants.len());
    for grant in &grants {
        // Erasure deletes a patient's grants; a key that is gone all the same (410) leaves
        // the grant listed without its reason. Any other failure is an error, not a blank.
        let reason = match gate
            .open_note(grant.patient, REASON, &grant.reason_sealed)
            .await
        {
            Ok(note) => note.and_then(|r| String::from_utf8(r).ok()),
            Err(outcome) if outcome.status() == axum::http::StatusCode::GONE => None,
            Err(outcome) => return Err(outcome.into()),
        };
        views.push(view(grant, reason, now));
    }
    let next = (grants.len() == limit as usize)
        .then(|| {
            grants
                .last()
                .map(|g| format!("{}.{}", g.created_at.0, g.id))
        })
        .flatten();
    Ok(Json(GrantPage {
        grants: views,
        next,
    }))
}

/// A `next` cursor: `<created_at millis>.<grant id>`.
fn parse_cursor(cursor: &str) -> Option<(UnixMillis, String)> {
    let (at, id) = cursor.split_once('.')?;
    Some((UnixMillis(at.parse().ok()?), id.to_owned()))
}

fn view(grant: &BreakGlassGrant, reason: Option<String>, now: UnixMillis) -> GrantView {
    let instant = crate::fhir::resource::instant;
    GrantView {
        id: grant.id.clone(),
        user_id: grant.user_id.to_string(),
        patient: grant.patient.to_string(),
        reason,
        created_at: instant(grant.created_at),
        expires_at: instant(grant.expires_at),
        active: now < grant.expires_at,
    }
}

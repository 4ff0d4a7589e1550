//! Erasure and legal-hold routes: `DELETE /api/v1/me` for the patient, and
//! `/api/v1/admin/patients/{id}/...` and `/api/v1/admin/legal-holds` for administrators.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use medvault_domain::{AuditAction, Outcome, PatientId, Role};
use medvault_store::{LegalHold, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::erasure::{EraseError, Erased, Eraser};
use crate::http::{ApiJson, RequestContext};
use crate::identity::api::views::rfc3339;
use crate::identity::Principal;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(erase_me))
        .routes(routes!(erase_patient))
        .routes(routes!(place_hold, release_hold))
        .routes(routes!(list_holds))
}

/// The patient confirms by re-typing their email address.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseConfirmation {
    confirm: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    /// Why the records must be kept, e.g. the law or the case. Shown to administrators
    /// only; never written to the audit trail.
    reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct HoldView {
    patient: String,
    reason: String,
    placed_by: String,
    placed_at: String,
}

impl From<LegalHold> for HoldView {
    fn from(hold: LegalHold) -> Self {
        Self {
            patient: hold.patient.to_string(),
            reason: hold.reason,
            placed_by: hold.placed_by.to_string(),
            placed_at: rfc3339(hold.placed_at),
        }
    }
}

const MAX_REASON: usize = 500;

fn patient_id(id: &str) -> Result<PatientId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

impl From<EraseError> for ApiError {
    fn from(err: EraseError) -> Self {
        match err {
            EraseError::NotFound => ApiError::NotFound,
            EraseError::Held(hold) => ApiError::Conflict {
                detail: format!(
                    "a legal hold placed {} keeps these records; erasure is refused until it is released (GDPR Art. 17(3))",
                    rfc3339(hold.placed_at)
                ),
            },
            EraseError::AuditUnavailable => ApiError::Unavailable {
                detail: "the audit trail is unavailable; nothing was erased",
            },
            EraseError::Store(err) => err.into(),
            EraseError::Keys(err) => err.into(),
            err @ EraseError::WrongVault(_) => ApiError::internal(err),
        }
    }
}

/// Runs an erasure and makes this instance forget the sessions it ended at once.
async fn run_erasure(
    state: &AppState,
    context: &RequestContext,
    principal: &Principal,
    patient: PatientId,
) -> Result<Erased, ApiError> {
    let event = principal.event(context, AuditAction::Erase);
    let erased = Eraser::of(state).erase(patient, event).await?;
    crate::identity::sessions::forget(state, erased.ended_sessions.clone());
    Ok(erased)
}

/// Erase my account and my health records (GDPR Art. 17). Needs a recent second factor
/// when the caller has one, and the caller's email re-typed as confirmation. The records
/// become unreadable everywhere, backups included; the audit trail keeps its entries, no
/// longer linked to the caller. Refused with 409 while a legal hold keeps the records.
#[utoipa::path(delete, path = "/api/v1/me", tag = "privacy", security(("bearer" = [])),
    request_body = EraseConfirmation, responses(
    (status = 200, description = "Erased", body = Erased),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
    (status = 403, description = "Staff accounts are removed by an administrator", content_type = "application/problem+json"),
    (status = 409, description = "A legal hold keeps the records", content_type = "application/problem+json"),
    (status = 422, description = "The confirmation does not match", content_type = "application/problem+json"),
))]
async fn erase_me(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    ApiJson(body): ApiJson<EraseConfirmation>,
) -> Result<Json<Erased>, ApiError> {
    crate::mfa::step_up::require_recent_mfa(&state, &principal).await?;
    let me = state.store.user(principal.user_id).await?;
    if !body.confirm.trim().eq_ignore_ascii_case(me.email.as_str()) {
        return Err(ApiError::Unprocessable {
            detail: "confirm must be your email address, re-typed".into(),
        });
    }
    if me.roles.iter().any(|r| r != Role::Patient) {
        return Err(ApiError::Forbidden);
    }
    match me.patient_id {
        Some(patient) => Ok(Json(
            run_erasure(&state, &context, &principal, patient).await?,
        )),
        // An account without a health record: the account is all there is to erase.
        None => {
            let event = crate::audit::event(
                &context,
                principal.actor(),
                AuditAction::UserDelete,
                Outcome::Success,
            );
            crate::audit::record(&state.audit, crate::audit::about(event, "User", me.id)).await?;
            crate::identity::sessions::revoke_all_of(&state, me.id).await?;
            state.store.delete_user(me.id).await?;
            Ok(Json(Erased {
                patient: String::new(),
                erased_at: rfc3339(crate::clock::now()),
                resources: 0,
                versions: 0,
                users: 1,
                unreadable_after_ms: 0,
                total_ms: 0,
                ended_sessions: Vec::new(),
            }))
        }
    }
}

/// Erase a patient on their behalf (an erasure request received by the privacy officer):
/// their records and their account. Admin only, with a recent second factor.
#[utoipa::path(post, path = "/api/v1/admin/patients/{id}/erase", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The Patient id")),
    responses(
    (status = 200, description = "Erased", body = Erased),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
    (status = 403, description = "Caller is not an admin", content_type = "application/problem+json"),
    (status = 404, description = "No such patient", content_type = "application/problem+json"),
    (status = 409, description = "A legal hold keeps the records", content_type = "application/problem+json"),
))]
async fn erase_patient(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Erased>, ApiError> {
    principal.require(Role::Admin)?;
    crate::mfa::step_up::require_recent_mfa(&state, &principal).await?;
    let patient = patient_id(&id)?;
    Ok(Json(
        run_erasure(&state, &context, &principal, patient).await?,
    ))
}

/// Place a legal hold on a patient's records, or replace its reason: erasure is refused
/// while it is in place. Admin only.
#[utoipa::path(put, path = "/api/v1/admin/patients/{id}/legal-hold", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The Patient id")),
    request_body = HoldRequest, responses(
    (status = 200, description = "In place", body = HoldView),
    (status = 409, description = "The patient's erasure is under way", content_type = "application/problem+json"),
    (status = 403, description = "Caller is not an admin", content_type = "application/problem+json"),
    (status = 404, description = "No such patient", content_type = "application/problem+json"),
    (status = 422, description = "The reason is missing or too long", content_type = "application/problem+json"),
))]
async fn place_hold(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<HoldRequest>,
) -> Result<Json<HoldView>, ApiError> {
    principal.require(Role::Admin)?;
    let patient = patient_id(&id)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(ApiError::Unprocessable {
            detail: format!("reason is required, at most {MAX_REASON} characters"),
        });
    }
    if !Eraser::of(&state).exists(patient).await? {
        return Err(ApiError::NotFound);
    }
    let hold = LegalHold {
        patient,
        reason: reason.to_owned(),
        placed_by: principal.user_id,
        placed_at: crate::clock::now(),
    };
    audit_hold(
        &state,
        &context,
        &principal,
        patient,
        AuditAction::LegalHoldPlace,
    )
    .await?;
    state.store.place_legal_hold(&hold).await?;
    Ok(Json(hold.into()))
}

/// Release a legal hold. Admin only, with a recent second factor.
#[utoipa::path(delete, path = "/api/v1/admin/patients/{id}/legal-hold", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The Patient id")),
    responses(
    (status = 204, description = "Released"),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
    (status = 403, description = "Caller is not an admin", content_type = "application/problem+json"),
    (status = 404, description = "No hold on that patient", content_type = "application/problem+json"),
))]
async fn release_hold(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    crate::mfa::step_up::require_recent_mfa(&state, &principal).await?;
    let patient = patient_id(&id)?;
    if state.store.legal_hold(patient).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    audit_hold(
        &state,
        &context,
        &principal,
        patient,
        AuditAction::LegalHoldRelease,
    )
    .await?;
    match state.store.release_legal_hold(patient).await {
        // Released by someone else meanwhile: the outcome asked for holds.
        Ok(()) | Err(StoreError::NotFound) => Ok(StatusCode::NO_CONTENT),
        Err(err) => Err(err.into()),
    }
}

/// Every legal hold in place, oldest first. Admin only.
#[utoipa::path(get, path = "/api/v1/admin/legal-holds", tag = "admin", security(("bearer" = [])),
    responses(
    (status = 200, description = "The holds", body = [HoldView]),
    (status = 403, description = "Caller is not an admin", content_type = "application/problem+json"),
))]
async fn list_holds(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<HoldView>>, ApiError> {
    principal.require(Role::Admin)?;
    let holds = state.store.legal_holds().await?;
    Ok(Json(holds.into_iter().map(HoldView::from).collect()))
}

async fn audit_hold(
    state: &AppState,
    context: &RequestContext,
    principal: &Principal,
    patient: PatientId,
    action: AuditAction,
) -> Result<(), ApiError> {
    let subject = crate::audit::subjects::of(state.fhir.gate.keys(), Some(patient)).await?;
    let mut event = principal.event(context, action);
    if let Some(subject) = &subject {
        event = crate::audit::about(event, "Patient", &subject.0);
    }
    event.patient = subject;
    crate::audit::record(&state.audit, event).await
}

// Confirmations and hold reasons: never in Debug output.
crate::redact::redacted_debug!(EraseConfirmation, HoldRequest, HoldView);

//! Consent withdrawal as easy as giving it (GDPR Art. 7(3)): a patient lists their Consent
//! resources and withdraws one with a single call. Withdrawal is a new version with status
//! `inactive`, so the history shows when consent was given and when it was taken back.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use medvault_domain::{AuditAction, FhirId, Outcome, ResourceType};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::fhir::gate::access::Accessor;
use crate::fhir::gate::Caller;
use crate::http::RequestContext;
use crate::identity::Principal;
use crate::{ApiError, AppState};

#[derive(Serialize, ToSchema)]
pub struct Consents {
    /// The caller's FHIR Consent resources, current versions.
    #[schema(value_type = Vec<Object>)]
    consents: Vec<Value>,
}

/// The caller's consents (patients only).
#[utoipa::path(get, path = "/api/v1/me/consents", tag = "privacy", security(("bearer" = [])), responses(
    (status = 200, description = "Current versions of the caller's Consent resources", body = Consents),
    (status = 403, description = "The caller is not a patient", content_type = "application/problem+json"),
))]
pub(super) async fn list_consents(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
) -> Result<Json<Consents>, ApiError> {
    let Some(patient) = principal.patient else {
        return Err(ApiError::Forbidden);
    };
    let who = Accessor::from(principal);
    let params = vec![
        ("patient".to_owned(), patient.to_string()),
        (
            "_count".to_owned(),
            crate::fhir::search::MAX_COUNT.to_string(),
        ),
    ];
    let search = crate::fhir::search::parse(ResourceType::Consent, params)?;
    let page = state
        .fhir
        .gate
        .search(
            Caller {
                who: &who,
                context: &context,
            },
            &search,
        )
        .await?;
    Ok(Json(Consents {
        consents: page
            .entries
            .into_iter()
            .filter_map(|o| o.resource)
            .collect(),
    }))
}

/// Withdraw a consent: it becomes `inactive` from the next request on.
#[utoipa::path(delete, path = "/api/v1/me/consents/{id}", tag = "privacy", security(("bearer" = [])),
    params(("id" = String, Path, description = "The Consent's id")), responses(
    (status = 204, description = "Withdrawn (or already inactive)"),
    (status = 404, description = "No such consent of the caller's", content_type = "application/problem+json"),
))]
pub(super) async fn withdraw_consent(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: FhirId = id.parse().map_err(|_| ApiError::NotFound)?;
    let who = Accessor::from(principal);
    let caller = Caller {
        who: &who,
        context: &context,
    };
    let fhir = &state.fhir;
    let opened = fhir
        .gate
        .read(caller, ResourceType::Consent, &id, None)
        .await?;
    let Some(mut consent) = opened.resource else {
        return Err(ApiError::NotFound);
    };
    if matches!(
        consent["status"].as_str(),
        Some("inactive" | "rejected" | "entered-in-error")
    ) {
        return Ok(StatusCode::NO_CONTENT);
    }
    consent["status"] = Value::String("inactive".into());
    let write = fhir
        .prepare_update(
            caller,
            ResourceType::Consent,
            id.clone(),
            consent,
            Some(opened.record.version),
            &Default::default(),
        )
        .await?;
    fhir.gate.commit(caller, vec![write]).await?;
    let actor = medvault_domain::Actor::User {
        id: who.user_id,
        roles: who.roles.clone(),
    };
    let mut event = crate::audit::event(
        &context,
        actor,
        AuditAction::ConsentChange,
        Outcome::Success,
    );
    event.patient = crate::audit::subjects::of(state.fhir.gate.keys(), who.patient).await?;
    crate::audit::record(&state.audit, crate::audit::about(event, "Consent", &id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

// Bodies, codes and tokens: never in Debug output.
crate::redact::redacted_debug!(Consents);

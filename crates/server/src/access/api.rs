//! `/api/v1/admin/policies`: the access policy set in force, and replacing it (admin only,
//! with a recent second factor: a policy decides who reads every record).

use axum::extract::State;
use axum::Json;
use medvault_domain::{AuditAction, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::engine::SCHEMA;
use super::policies::{self, ReplaceError};
use crate::http::{ApiJson, RequestContext};
use crate::identity::Principal;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, replace))
}

/// The policy set in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// 0 for the built-in default set; each accepted load adds one.
    version: u64,
    /// The policies, in Cedar.
    policies: String,
    /// The Cedar schema every set is validated against.
    schema: &'static str,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplacePolicies {
    /// The new set, in Cedar. Every policy needs a unique `@id("...")`.
    policies: String,
    /// The version this set replaces: refused with 409 when another was loaded since.
    replaces: Option<u64>,
}

/// The access policy set in force and the schema it is validated against.
#[utoipa::path(get, path = "/api/v1/admin/policies", tag = "admin", security(("bearer" = [])), responses(
    (status = 200, description = "The policy set in force", body = PolicyView),
    (status = 403, description = "Caller is not an admin", content_type = "application/problem+json"),
))]
async fn show(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<PolicyView>, ApiError> {
    principal.require(Role::Admin)?;
    let current = state.access.current();
    Ok(Json(PolicyView {
        version: current.version,
        policies: current.text.clone(),
        schema: SCHEMA,
    }))
}

/// Replace the access policy set. It is validated against the schema first: a set that
/// does not parse or validate is refused with each problem and its line and column, and
/// the set in force stays in force.
#[utoipa::path(put, path = "/api/v1/admin/policies", tag = "admin", security(("bearer" = [])),
    request_body = ReplacePolicies, responses(
    (status = 200, description = "The new set is in force", body = PolicyView),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
    (status = 403, description = "Caller is not an admin", content_type = "application/problem+json"),
    (status = 409, description = "Another set was loaded since `replaces`", content_type = "application/problem+json"),
    (status = 422, description = "The set was refused; `errors` says where", content_type = "application/problem+json"),
))]
async fn replace(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    ApiJson(body): ApiJson<ReplacePolicies>,
) -> Result<Json<PolicyView>, ApiError> {
    principal.require(Role::Admin)?;
    crate::mfa::step_up::require_recent_mfa(&state, &principal).await?;
    let event = principal.event(&context, AuditAction::PolicyLoad);
    let version = policies::replace(
        &state.access,
        state.store.as_ref(),
        &state.audit,
        body.policies.clone(),
        body.replaces,
        &principal.user_id.to_string(),
        event,
    )
    .await
    .map_err(|err| match err {
        ReplaceError::Invalid(problems) => ApiError::InvalidPolicy {
            problems: serde_json::to_value(problems).unwrap_or_default(),
        },
        ReplaceError::Stale(_) => ApiError::Conflict {
            detail: err.to_string(),
        },
        ReplaceError::Audit => ApiError::Unavailable {
            detail: "the audit trail is unavailable; the policy set was not changed",
        },
        ReplaceError::Store(err) => err.into(),
    })?;
    Ok(Json(PolicyView {
        version,
        policies: body.policies,
        schema: SCHEMA,
    }))
}

//! `/api/v1/admin/users`: account management, for the `admin` role only.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use medvault_crypto::password::Password;
use medvault_domain::{Actor, AuditAction, Email, Outcome, Role, UserId, UserStatus};
use medvault_store::UserFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::UserView;
use crate::audit;
use crate::http::{ApiJson, RequestContext};
use crate::identity::users::{self, NewUser, UserChanges};
use crate::identity::{sessions, Principal};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(unlock_user))
}

const MAX_PAGE: u32 = 200;

fn admin(principal: &Principal) -> Result<Actor, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Actor::User {
        id: principal.user_id,
        roles: principal.roles.clone(),
    })
}

fn user_id(id: &str) -> Result<UserId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    display_name: Option<String>,
    roles: Vec<String>,
    /// Optional: without one the user cannot sign in with a password.
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<Password>,
    /// The FHIR Patient a patient user is.
    patient_id: Option<String>,
    /// The FHIR Practitioner a clinician user is.
    practitioner_id: Option<String>,
    /// The FHIR Organization a staff user works for.
    organization_id: Option<String>,
}

/// Create a user. A password must satisfy the password policy.
#[utoipa::path(post, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    request_body = CreateUser, responses(
    (status = 201, description = "Created", body = UserView),
    (status = 403, description = "Caller is not an admin", content_type = "application/problem+json"),
    (status = 409, description = "Email taken", content_type = "application/problem+json"),
    (status = 422, description = "Invalid email, role or password", content_type = "application/problem+json"),
))]
async fn create_user(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let actor = admin(&principal)?;
    let new = NewUser {
        email: body.email,
        display_name: body.display_name,
        roles: body.roles,
        password: body.password,
        patient_id: body.patient_id,
        practitioner_id: body.practitioner_id,
        organization_id: body.organization_id,
    };
    let identity = &state.identity;
    let user = users::create(
        state.store.as_ref(),
        &identity.hashing,
        &identity.policy,
        new,
    )
    .await?;
    let event = audit::event(&context, actor, AuditAction::UserCreate, Outcome::Success);
    audit::record(&state.audit, audit::about(event, "User", user.id)).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    email: Option<String>,
    role: Option<String>,
    status: Option<String>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    users: Vec<UserView>,
    /// Pass as `after` for the next page; absent on the last page.
    next: Option<String>,
}

/// List users by email, optionally filtered by email, role and status.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    params(ListQuery), responses(
    (status = 200, description = "A page of users", body = UserPage),
    (status = 403, description = "Caller is not an admin", content_type = "application/problem+json"),
))]
async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<Json<UserPage>, ApiError> {
    admin(&principal)?;
    let invalid = |what: &str| ApiError::Unprocessable {
        detail: format!("{what} is not valid"),
    };
    let filter = UserFilter {
        email: query
            .email
            .map(|e| e.parse::<Email>().map_err(|_| invalid("email")))
            .transpose()?,
        role: query
            .role
            .map(|r| r.parse::<Role>().map_err(|_| invalid("role")))
            .transpose()?,
        status: query
            .status
            .map(|s| s.parse::<UserStatus>().map_err(|_| invalid("status")))
            .transpose()?,
        patient: None,
    };
    let after = query
        .after
        .map(|a| a.parse::<Email>().map_err(|_| invalid("after")))
        .transpose()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(invalid("limit"));
    }
    let found = state
        .store
        .list_users(&filter, after.as_ref(), limit)
        .await?;
    let next = (found.len() == limit as usize)
        .then(|| found.last().map(|u| u.email.to_string()))
        .flatten();
    Ok(Json(UserPage {
        users: found.iter().map(UserView::from).collect(),
        next,
    }))
}

/// Read one user.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")), responses(
    (status = 200, description = "The user", body = UserView),
    (status = 404, description = "No such user", content_type = "application/problem+json"),
))]
async fn get_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    admin(&principal)?;
    Ok(Json(UserView::from(
        &state.store.user(user_id(&id)?).await?,
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// `null` clears the name.
    #[serde(default, deserialize_with = "present")]
    display_name: Option<Option<String>>,
    roles: Option<Vec<String>>,
    /// `active` or `disabled`. Disabling ends every session of the user.
    status: Option<String>,
}

/// Distinguishes an absent field (no change) from an explicit `null` (clear it).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Change a user's name, roles or status.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")), request_body = UpdateUser, responses(
    (status = 200, description = "Updated", body = UserView),
    (status = 404, description = "No such user", content_type = "application/problem+json"),
    (status = 409, description = "Would leave no active admin", content_type = "application/problem+json"),
))]
async fn update_user(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Json<UserView>, ApiError> {
    let actor = admin(&principal)?;
    let status = body
        .status
        .map(|s| {
            s.parse::<UserStatus>()
                .map_err(|_| ApiError::Unprocessable {
                    detail: "status is active or disabled".into(),
                })
        })
        .transpose()?;
    if body.roles.is_some() {
        // A role change is a sensitive operation: it needs a recent second factor.
        crate::mfa::step_up::require_recent_mfa(&state, &principal).await?;
    }
    let changes = UserChanges {
        display_name: body.display_name,
        roles: body.roles,
        status,
    };
    let store = state.store.as_ref();
    let (user, roles_changed) = users::update(store, user_id(&id)?, changes).await?;
    if user.status == UserStatus::Disabled {
        sessions::revoke_all_of(&state, user.id).await?;
    }
    let action = if roles_changed {
        AuditAction::UserRoleChange
    } else {
        AuditAction::UserUpdate
    };
    let event = audit::event(&context, actor, action, Outcome::Success);
    audit::record(&state.audit, audit::about(event, "User", user.id)).await?;
    Ok(Json(UserView::from(&user)))
}

/// Delete a user with their sessions.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")), responses(
    (status = 204, description = "Deleted"),
    (status = 404, description = "No such user", content_type = "application/problem+json"),
    (status = 409, description = "Would leave no active admin", content_type = "application/problem+json"),
))]
async fn delete_user(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let actor = admin(&principal)?;
    let store = state.store.as_ref();
    let (user, ended) = users::delete(store, user_id(&id)?).await?;
    sessions::forget(&state, ended);
    let event = audit::event(&context, actor, AuditAction::UserDelete, Outcome::Success);
    audit::record(&state.audit, audit::about(event, "User", user.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lift a sign-in lock (or back-off) on a user after repeated failed attempts.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/unlock", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "User id")), responses(
    (status = 204, description = "Unlocked"),
    (status = 404, description = "No such user", content_type = "application/problem+json"),
))]
async fn unlock_user(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let actor = admin(&principal)?;
    let user = state.store.user(user_id(&id)?).await?;
    state.protect.limits.clear(user.email.as_str()).await?;
    let event = audit::event(&context, actor, AuditAction::UserUnlock, Outcome::Success);
    audit::record(&state.audit, audit::about(event, "User", user.id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

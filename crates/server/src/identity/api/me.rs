//! `/api/v1/me`: the signed-in user's own profile and sessions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use medvault_domain::SessionId;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::{SessionView, UserView};
use crate::clock::now;
use crate::http::RequestContext;
use crate::identity::{sessions, Principal};
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(my_sessions))
        .routes(routes!(end_my_session))
        .routes(routes!(change_my_password))
}

#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(value_type = String, format = Password)]
    current_password: medvault_crypto::password::Password,
    #[schema(value_type = String, format = Password)]
    new_password: medvault_crypto::password::Password,
}

/// Change the caller's own password. Every other session of the caller ends.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "identity", security(("bearer" = [])),
    request_body = PasswordChange, responses(
    (status = 204, description = "Changed"),
    (status = 401, description = "`invalid_credentials`: the current password is wrong", content_type = "application/problem+json"),
    (status = 422, description = "The new password breaks the password policy", content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`", content_type = "application/problem+json"),
))]
async fn change_my_password(
    State(state): State<AppState>,
    context: RequestContext,
    client: crate::protect::ClientIp,
    crate::identity::PasswordChanger(principal): crate::identity::PasswordChanger,
    crate::http::ApiJson(body): crate::http::ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    sessions::change_password(
        &state,
        &context,
        client,
        &principal,
        body.current_password,
        body.new_password,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's profile and roles.
#[utoipa::path(get, path = "/api/v1/me", tag = "identity", security(("bearer" = [])), responses(
    (status = 200, description = "The caller", body = UserView),
    (status = 401, description = "No valid access token", content_type = "application/problem+json"),
))]
async fn me(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<UserView>, ApiError> {
    let user = state.store.user(principal.user_id).await?;
    Ok(Json(UserView::from(&user)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    sessions: Vec<SessionView>,
}

/// The caller's active sessions, newest first.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "identity", security(("bearer" = [])), responses(
    (status = 200, description = "Active sessions", body = SessionList),
    (status = 401, description = "No valid access token", content_type = "application/problem+json"),
))]
async fn my_sessions(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<SessionList>, ApiError> {
    let sessions = state.store.live_sessions(principal.user_id, now()).await?;
    let sessions = sessions
        .iter()
        .filter(|s| !state.identity.revoked.is_revoked(s.id))
        .map(|s| SessionView::new(s, s.id == principal.session_id))
        .collect();
    Ok(Json(SessionList { sessions }))
}

/// End one of the caller's sessions, e.g. a lost phone's.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "identity", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")), responses(
    (status = 204, description = "Session ended"),
    (status = 404, description = "No such session of the caller's", content_type = "application/problem+json"),
))]
async fn end_my_session(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: SessionId = id.parse().map_err(|_| ApiError::NotFound)?;
    sessions::end_session(&state, &context, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

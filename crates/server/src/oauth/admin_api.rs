//! `/api/v1/admin/clients`: registering and removing OAuth clients (admin only; a new
//! client, which may act for itself on records, needs a recent second factor).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use medvault_domain::{AuditAction, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::clients::{self, ClientView, Metadata, Registered};
use crate::http::{ApiJson, RequestContext};
use crate::identity::Principal;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register, list))
        .routes(routes!(show, remove))
}

/// Register a client with RFC 7591 metadata. The answer carries `client_secret` once.
/// Errors use RFC 7591's format (`invalid_client_metadata`, `invalid_redirect_uri`).
#[utoipa::path(post, path = "/api/v1/admin/clients", tag = "admin", security(("bearer" = [])),
    request_body = Metadata, responses(
    (status = 201, description = "Registered", body = Registered),
    (status = 400, description = "`invalid_client_metadata` or `invalid_redirect_uri`", body = Object),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
    (status = 403, description = "Caller is not an admin", content_type = "application/problem+json"),
))]
async fn register(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    ApiJson(metadata): ApiJson<Metadata>,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin)?;
    crate::mfa::step_up::require_recent_mfa(&state, &principal).await?;
    let event = principal.event(&context, AuditAction::ClientCreate);
    Ok(
        match clients::register(state.store.as_ref(), &state.audit, metadata, event).await {
            Ok(registered) => {
                // Publish the RS256 key now, so every instance's JWKS has it before the
                // client's first ID token.
                let alg = &registered.client.id_token_signed_response_alg;
                state
                    .identity
                    .keys
                    .id_token_signer(state.store.as_ref(), alg)
                    .await
                    .map_err(ApiError::internal)?;
                (StatusCode::CREATED, Json(registered)).into_response()
            }
            Err(err) => err.into_response(),
        },
    )
}

/// Every registered client (never a secret).
#[utoipa::path(get, path = "/api/v1/admin/clients", tag = "admin", security(("bearer" = [])), responses(
    (status = 200, description = "The clients", body = [ClientView]),
    (status = 403, description = "Caller is not an admin", content_type = "application/problem+json"),
))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<ClientView>>, ApiError> {
    principal.require(Role::Admin)?;
    let clients = state.store.oauth_clients().await?;
    Ok(Json(clients.iter().map(ClientView::from).collect()))
}

/// One client.
#[utoipa::path(get, path = "/api/v1/admin/clients/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The client_id")),
    responses(
    (status = 200, description = "The client", body = ClientView),
    (status = 404, description = "No such client", content_type = "application/problem+json"),
))]
async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ClientView>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Json(ClientView::from(
        &state.store.oauth_client(&id).await?,
    )))
}

/// Remove a client: it can no longer obtain tokens, and those it holds stop being active
/// (introspection answers `active: false`). Needs a recent second factor.
#[utoipa::path(delete, path = "/api/v1/admin/clients/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The client_id")),
    responses(
    (status = 204, description = "Removed"),
    (status = 404, description = "No such client", content_type = "application/problem+json"),
))]
async fn remove(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    crate::mfa::step_up::require_recent_mfa(&state, &principal).await?;
    state.store.oauth_client(&id).await?;
    let event = principal.event(&context, AuditAction::ClientDelete);
    crate::audit::record(&state.audit, crate::audit::about(event, "OAuthClient", &id)).await?;
    state.store.delete_oauth_client(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

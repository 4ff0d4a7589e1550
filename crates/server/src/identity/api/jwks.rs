//! `GET /.well-known/jwks.json` (RFC 7517): the keys that verify medvault's tokens.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JwkSet {
    /// The signing key, the next one, and retiring ones whose tokens may still be live.
    #[schema(value_type = Vec<Object>)]
    keys: Vec<medvault_crypto::jwt::PublicJwk>,
}

/// The JSON Web Key Set.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "identity", responses(
    (status = 200, description = "Public keys", body = JwkSet)))]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let keys = state.identity.keys.jwks().as_ref().clone();
    // A key is published a full rotation before it signs, so a five-minute cache is safe.
    (
        [(CACHE_CONTROL, "public, max-age=300")],
        Json(JwkSet { keys }),
    )
}

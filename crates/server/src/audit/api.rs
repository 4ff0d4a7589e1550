//! `GET /api/v1/audit/checkpoint-key`: the public key that verifies checkpoints, so a third
//! party holding exported checkpoints can check them without trusting medvault.

use axum::extract::State;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(checkpoint_key))
}

/// An OKP JSON Web Key (RFC 8037).
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointKeyJwk {
    /// `OKP`.
    kty: &'static str,
    /// `Ed25519`.
    crv: &'static str,
    /// The public key, base64url.
    x: String,
    kid: String,
    /// `EdDSA`.
    alg: &'static str,
    /// How a checkpoint is signed.
    signed_message: &'static str,
}

/// The audit checkpoint public key.
#[utoipa::path(get, path = "/api/v1/audit/checkpoint-key", tag = "audit", responses(
    (status = 200, description = "The Ed25519 public key", body = CheckpointKeyJwk)))]
async fn checkpoint_key(State(state): State<AppState>) -> Json<CheckpointKeyJwk> {
    Json(CheckpointKeyJwk {
        kty: "OKP",
        crv: "Ed25519",
        x: URL_SAFE_NO_PAD.encode(state.audit.public_key()),
        kid: state.audit.key_id().to_owned(),
        alg: "EdDSA",
        signed_message: "\"medvault/audit-checkpoint/v1\\0\" || seq (u64 BE) || head hash (32 bytes) || at (i64 BE, Unix ms)",
    })
}

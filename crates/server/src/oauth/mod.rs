//! The OAuth 2.0 authorization server, machine clients first: client registration (RFC
//! 7591 metadata; admin API and CLI), the client-credentials grant with SMART `system/`
//! scopes, token introspection (RFC 7662) and revocation (RFC 7009), and the server's
//! metadata (RFC 8414), and the FHIR API reading for clients within their `system/`
//! scopes (`caller.rs`). Authorization code with PKCE, the hosted pages, OpenID Connect
//! and the SMART launch come next.

mod admin_api;
pub mod caller;
pub mod clients;
mod error;
pub mod scopes;
mod token;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::OAuthError;
pub use token::ClientClaims;

use crate::AppState;

/// How clients authenticate at the token, introspection and revocation endpoints.
const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(metadata))
        .routes(routes!(token::token))
        .routes(routes!(token::introspect))
        .routes(routes!(token::revoke))
        .merge(admin_api::router())
}

/// Authorization server metadata (RFC 8414): what this server really supports.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth", responses(
    (status = 200, description = "RFC 8414 metadata", body = Object),
))]
async fn metadata(State(state): State<AppState>) -> Json<Value> {
    let issuer = &state.identity.config.issuer;
    Json(json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "ES384", "RS256", "RS384"],
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "scopes_supported": ["system/*.cruds", "system/*.rs"],
        "response_types_supported": [],
    }))
}

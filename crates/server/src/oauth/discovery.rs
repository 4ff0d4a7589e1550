//! What this server is and supports: OpenID Connect Discovery 1.0, RFC 8414 metadata
//! (the same document) and the SMART App Launch v2 configuration.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::AppState;

/// How clients authenticate at the token endpoint (`none`: public clients with PKCE).
const TOKEN_AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];
/// How clients authenticate at introspection and revocation.
const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];
const SCOPES: [&str; 12] = [
    "openid",
    "fhirUser",
    "profile",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "user/*.cruds",
    "system/*.rs",
    "patient/*.read",
    "user/*.read",
    "system/*.read",
];

fn endpoints(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": TOKEN_AUTH_METHODS,
        "scopes_supported": SCOPES,
    })
}

/// OpenID Connect Discovery 1.0 §3, which is also RFC 8414 §2.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth", responses(
    (status = 200, description = "OpenID Provider metadata", body = Object),
))]
pub async fn openid_configuration(State(state): State<AppState>) -> Json<Value> {
    Json(provider_metadata(&state))
}

/// RFC 8414 metadata: the same document as OpenID Connect Discovery.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth", responses(
    (status = 200, description = "RFC 8414 metadata", body = Object),
))]
pub async fn oauth_metadata(State(state): State<AppState>) -> Json<Value> {
    Json(provider_metadata(&state))
}

fn provider_metadata(state: &AppState) -> Value {
    let mut metadata = endpoints(&state.identity.config.issuer);
    let extra = json!({
        "response_modes_supported": ["query"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "ES384", "RS256", "RS384"],
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": ["iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce",
            "acr", "amr", "sid", "fhirUser"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    });
    merge(&mut metadata, extra);
    metadata
}

/// SMART App Launch v2 §2.0.6: every required field, and only capabilities medvault has.
#[utoipa::path(get, path = "/.well-known/smart-configuration", tag = "oauth", responses(
    (status = 200, description = "SMART configuration", body = Object),
))]
pub async fn smart_configuration(State(state): State<AppState>) -> Json<Value> {
    smart_document(&state)
}

/// The same, where SMART requires it: relative to the FHIR base URL.
#[utoipa::path(get, path = "/fhir/.well-known/smart-configuration", tag = "oauth", responses(
    (status = 200, description = "SMART configuration", body = Object),
))]
pub async fn fhir_smart_configuration(State(state): State<AppState>) -> Json<Value> {
    smart_document(&state)
}

fn smart_document(state: &AppState) -> Json<Value> {
    let issuer = &state.identity.config.issuer;
    let mut config = endpoints(issuer);
    merge(
        &mut config,
        json!({
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "ES384", "RS256", "RS384"],
            "capabilities": [
                "launch-standalone",
                "client-public",
                "client-confidential-symmetric",
                "client-confidential-asymmetric",
                "sso-openid-connect",
                "context-standalone-patient",
                "permission-offline",
                "permission-online",
                "permission-patient",
                "permission-user",
                "permission-v1",
                "permission-v2",
            ],
        }),
    );
    Json(config)
}

fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

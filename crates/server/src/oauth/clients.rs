//! Client registration with RFC 7591 metadata, shared by the admin API and the CLI. A
//! confidential client's secret (256 random bits) is shown once and stored as a digest.

use medvault_crypto::OpaqueToken;
use medvault_domain::{AuditAction, AuditEvent, AuditedResource};
use medvault_store::{OAuthClient, Store, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::OAuthError;
use medvault_crypto::client_assertion::ClientJwk;

use super::scopes::{self, Scope};
use crate::audit::AuditTrail;

pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
pub const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// How ID tokens may be signed (SMART requires RS256 to be available).
pub const ID_TOKEN_ALGS: [&str; 2] = ["ES256", "RS256"];

/// RFC 7591 §2 client metadata, as registered (unknown members are ignored, §2).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Metadata {
    pub client_name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Defaults to `["authorization_code"]` (RFC 7591 §2).
    pub grant_types: Option<Vec<String>>,
    /// Defaults to `client_secret_basic`; `none` for public clients (PKCE).
    pub token_endpoint_auth_method: Option<String>,
    /// The scopes the client may ask for, space-separated.
    #[serde(default)]
    pub scope: String,
    /// For `private_key_jwt`: `{"keys": [...]}` with the client's public keys (EC P-256 or
    /// P-384, or RSA).
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Or, for `private_key_jwt`, where the client publishes them: https (http only on a
    /// loopback address). Fetched when needed, cached for five minutes, and fetched again
    /// when an assertion names a key not seen yet (the client rotated).
    pub jwks_uri: Option<String>,
    /// `ES256` (the default) or `RS256` (OpenID Connect Registration §2).
    pub id_token_signed_response_alg: Option<String>,
}

/// The registration response (RFC 7591 §3.2.1).
#[derive(Serialize, ToSchema)]
pub struct Registered {
    pub client_id: String,
    /// Shown once; absent for public clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub client_id_issued_at: i64,
    /// 0: the secret does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_expires_at: Option<i64>,
    #[serde(flatten)]
    pub client: ClientView,
}

/// A client as the admin API shows it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub scope: String,
    pub id_token_signed_response_alg: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
}

impl From<&OAuthClient> for ClientView {
    fn from(c: &OAuthClient) -> Self {
        Self {
            client_id: c.client_id.clone(),
            client_name: c.client_name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            token_endpoint_auth_method: c.token_endpoint_auth_method.clone(),
            scope: c.scope.clone(),
            id_token_signed_response_alg: c.id_token_signed_response_alg.clone(),
            jwks_uri: c.jwks_uri.clone(),
        }
    }
}

fn invalid_metadata(description: impl Into<String>) -> OAuthError {
    OAuthError::new("invalid_client_metadata", description)
}

/// Where a client may publish its keys: https, or http on a loopback address (a local
/// service, and tests). No credentials, no fragment.
fn valid_jwks_uri(uri: &str) -> bool {
    let Ok(url) = webauthn_rs::prelude::Url::parse(uri) else {
        return false;
    };
    let clean = url.fragment().is_none() && url.username().is_empty() && url.password().is_none();
    clean
        && match url.scheme() {
            "https" => url.host_str().is_some(),
            "http" => matches!(url.host_str(), Some("127.0.0.1" | "[::1]")),
            _ => false,
        }
}

/// A redirect URI a client may register: https, http on a loopback host (native apps,
/// RFC 8252 §7.3), or a private-use scheme with a dot (RFC 8252 §7.1); never a fragment.
fn valid_redirect_uri(uri: &str) -> bool {
    let Ok(url) = webauthn_rs::prelude::Url::parse(uri) else {
        return false;
    };
    if url.fragment().is_some()
        || uri.contains(char::is_whitespace)
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return false;
    }
    match url.scheme() {
        "https" => url.host_str().is_some(),
        // Loopback IP literals, not `localhost` (RFC 8252 §7.3, §8.3).
        "http" => matches!(url.host_str(), Some("127.0.0.1" | "[::1]")),
        scheme => scheme.contains('.'),
    }
}

/// Checks `metadata` and turns it into a client to store.
fn validate(metadata: Metadata) -> Result<OAuthClient, OAuthError> {
    let name = metadata.client_name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid_metadata(
            "client_name: 1 to 100 printable characters",
        ));
    }
    let grant_types = metadata
        .grant_types
        .unwrap_or_else(|| vec!["authorization_code".into()]);
    if grant_types.is_empty()
        || grant_types
            .iter()
            .any(|g| !GRANT_TYPES.contains(&g.as_str()))
    {
        return Err(invalid_metadata(format!(
            "grant_types: one or more of {}",
            GRANT_TYPES.join(", ")
        )));
    }
    let method = metadata
        .token_endpoint_auth_method
        .unwrap_or_else(|| "client_secret_basic".into());
    if !AUTH_METHODS.contains(&method.as_str()) {
        return Err(invalid_metadata(format!(
            "token_endpoint_auth_method: one of {}",
            AUTH_METHODS.join(", ")
        )));
    }
    let jwks_uri = match (method.as_str(), metadata.jwks_uri, &metadata.jwks) {
        (_, None, _) => None,
        (_, Some(_), Some(_)) => {
            return Err(invalid_metadata("register jwks or jwks_uri, not both"))
        }
        ("private_key_jwt", Some(uri), None) if valid_jwks_uri(&uri) => Some(uri),
        ("private_key_jwt", Some(_), None) => {
            return Err(invalid_metadata(
                "jwks_uri: an https URL (http only on 127.0.0.1 or [::1])",
            ))
        }
        (_, Some(_), None) => return Err(invalid_metadata("jwks_uri is only for private_key_jwt")),
    };
    let jwks = match (method.as_str(), metadata.jwks) {
        ("private_key_jwt", Some(jwks)) => {
            let keys: Vec<ClientJwk> = serde_json::from_value(jwks["keys"].clone())
                .map_err(|_| invalid_metadata("jwks: {\"keys\": [JWK, ...]}"))?;
            if keys.is_empty() || !keys.iter().all(ClientJwk::usable) {
                return Err(invalid_metadata(
                    "jwks: public EC (P-256, P-384) or RSA keys medvault can verify",
                ));
            }
            let keys = serde_json::json!({ "keys": keys });
            Some(keys.to_string())
        }
        ("private_key_jwt", None) if jwks_uri.is_some() => None,
        ("private_key_jwt", None) => {
            return Err(invalid_metadata("private_key_jwt needs jwks or jwks_uri"));
        }
        (_, Some(_)) => return Err(invalid_metadata("jwks is only for private_key_jwt")),
        (_, None) => None,
    };
    let machine = grant_types.iter().any(|g| g == "client_credentials");
    if machine && method == "none" {
        return Err(invalid_metadata(
            "a public client (token_endpoint_auth_method none) cannot use client_credentials",
        ));
    }
    let browser = grant_types.iter().any(|g| g == "authorization_code");
    if browser && metadata.redirect_uris.is_empty() {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            "authorization_code needs at least one redirect URI",
        ));
    }
    if let Some(bad) = metadata
        .redirect_uris
        .iter()
        .find(|u| !valid_redirect_uri(u))
    {
        return Err(OAuthError::new(
            "invalid_redirect_uri",
            format!(
                "{bad:?}: https, http on a loopback host, or a private-use scheme; no fragment"
            ),
        ));
    }
    let requested = scopes::parse_all(&metadata.scope).map_err(invalid_metadata)?;
    if machine && !browser && requested.iter().any(|s| !s.is_system()) {
        return Err(invalid_metadata(
            "a client_credentials client acts for itself: only system/ scopes",
        ));
    }
    if machine && !requested.iter().any(Scope::is_system) {
        return Err(invalid_metadata(
            "client_credentials needs at least one system/ scope to ask for",
        ));
    }
    let scope: Vec<String> = requested.iter().map(ToString::to_string).collect();
    let id_token_alg = metadata
        .id_token_signed_response_alg
        .unwrap_or_else(|| "ES256".into());
    if !ID_TOKEN_ALGS.contains(&id_token_alg.as_str()) {
        return Err(invalid_metadata(format!(
            "id_token_signed_response_alg: one of {}",
            ID_TOKEN_ALGS.join(", ")
        )));
    }
    Ok(OAuthClient {
        client_id: uuid::Uuid::new_v4().to_string(),
        client_name: name.to_owned(),
        secret_digest: None,
        token_endpoint_auth_method: method,
        grant_types,
        redirect_uris: metadata.redirect_uris,
        scope: scope.join(" "),
        jwks,
        jwks_uri,
        id_token_signed_response_alg: id_token_alg,
        created_at: crate::clock::now(),
    })
}

/// Registers a client; `event` says who registered it (recorded as `oauth.client_create`).
pub async fn register(
    store: &dyn Store,
    trail: &AuditTrail,
    metadata: Metadata,
    event: AuditEvent,
) -> Result<Registered, OAuthError> {
    let mut client = validate(metadata)?;
    let shared_secret = client
        .token_endpoint_auth_method
        .starts_with("client_secret");
    let secret = shared_secret.then(OpaqueToken::generate);
    client.secret_digest = secret.as_ref().map(OpaqueToken::digest);
    let event = AuditEvent {
        action: AuditAction::ClientCreate,
        resource: Some(AuditedResource {
            kind: "OAuthClient".into(),
            id: client.client_id.clone(),
        }),
        ..event
    };
    trail
        .append(event.clone())
        .await
        .map_err(|_| OAuthError::server_error("the audit trail is unavailable"))?;
    if let Err(err) = store.insert_oauth_client(&client).await {
        // Audited first (fail closed); say it did not happen.
        let failed = AuditEvent {
            outcome: medvault_domain::Outcome::Error,
            ..event
        };
        let _best_effort = trail.append(failed).await;
        return Err(match err {
            StoreError::Conflict => OAuthError::server_error("client id collision"),
            other => other.into(),
        });
    }
    Ok(Registered {
        client_id: client.client_id.clone(),
        client_secret: secret.map(|s| s.expose().to_owned()),
        client_id_issued_at: client.created_at.as_secs(),
        client_secret_expires_at: client.secret_digest.map(|_| 0),
        client: ClientView::from(&client),
    })
}

/// `medvault client add | list | remove`, as the system.
pub async fn cli(
    operator: &crate::storage::Operator,
    command: &crate::cli::ClientCommand,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    use crate::cli::ClientCommand;
    let store = operator.store.as_ref();
    match command {
        ClientCommand::Add {
            name,
            grant_types,
            redirect_uris,
            scope,
            auth_method,
            jwks_uri,
            id_token_alg,
        } => {
            let metadata = Metadata {
                client_name: name.clone(),
                redirect_uris: redirect_uris.clone(),
                grant_types: Some(grant_types.clone()),
                token_endpoint_auth_method: Some(auth_method.clone()),
                scope: scope.clone(),
                jwks: None,
                jwks_uri: jwks_uri.clone(),
                id_token_signed_response_alg: Some(id_token_alg.clone()),
            };
            let event = crate::audit::system_event(AuditAction::ClientCreate, None);
            let registered = register(store, &operator.trail, metadata, event)
                .await
                .map_err(|e| format!("{}: {}", e.code, e.description))?;
            Ok(match registered.client_secret {
                Some(secret) => format!(
                    "client_id: {}\nclient_secret: {secret}\n(the secret is shown once; store it now)",
                    registered.client_id
                ),
                None => format!("client_id: {} (public client)", registered.client_id),
            })
        }
        ClientCommand::List => Ok(store
            .oauth_clients()
            .await?
            .iter()
            .map(|c| {
                format!(
                    "{}  {}  [{}]  {}",
                    c.client_id,
                    c.client_name,
                    c.grant_types.join(","),
                    c.scope
                )
            })
            .collect::<Vec<_>>()
            .join("\n")),
        ClientCommand::Remove { id } => {
            store.oauth_client(id).await?;
            let event = crate::audit::system_event(
                AuditAction::ClientDelete,
                Some(AuditedResource {
                    kind: "OAuthClient".into(),
                    id: id.clone(),
                }),
            );
            operator.trail.append(event).await?;
            store.delete_oauth_client(id).await?;
            Ok(format!("removed client {id}"))
        }
    }
}

// It carries the secret: never in Debug output.
crate::redact::redacted_debug!(Registered);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_follow_rfc_8252() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "com.example.app:/oauth",
        ] {
            assert!(valid_redirect_uri(ok), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "http://localhost/cb",
            "https://user:pass@app.example/cb",
            "https://app.example/cb#x",
            "javascript:alert(1)",
            "relative/cb",
            "",
        ] {
            assert!(!valid_redirect_uri(bad), "{bad}");
        }
    }
}

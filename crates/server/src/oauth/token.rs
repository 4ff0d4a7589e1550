//! `/oauth2/token` (RFC 6749 §3.2) with the client-credentials grant, `/oauth2/introspect`
//! (RFC 7662) and `/oauth2/revoke` (RFC 7009). Clients authenticate with
//! `client_secret_basic`, `client_secret_post` or `private_key_jwt` (RFC 7523); failures
//! are audited and count against the address like failed sign-ins.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::{Form, Json};
use base64::Engine as _;
use medvault_crypto::{client_assertion, OpaqueToken};
use medvault_domain::{Actor, AuditAction, Outcome};
use medvault_store::{OAuthClient, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::OAuthError;
use super::scopes::{self, Scope};
use crate::clock::now;
use crate::http::RequestContext;
use crate::protect::ClientIp;
use crate::AppState;

/// The claims of a client-credentials access token: the client is the subject.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
}

pub(super) type Params = Vec<(String, String)>;

/// The form body, or `invalid_request` in OAuth's format when it is not one.
fn form_params(form: Result<Form<Params>, FormRejection>) -> Result<Params, OAuthError> {
    form.map(|Form(params)| params).map_err(|_| {
        OAuthError::invalid_request("send application/x-www-form-urlencoded parameters")
    })
}

/// The one value of `name`; a parameter sent twice is refused (RFC 6749 §3.2).
pub(super) fn param<'a>(
    params: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, OAuthError> {
    let mut values = params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str());
    let first = values.next();
    if values.next().is_some() {
        return Err(OAuthError::invalid_request(format!("{name} is repeated")));
    }
    Ok(first)
}

/// The assertion type of `private_key_jwt` (RFC 7523 §2.2).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How far in the future a client assertion may expire (SMART Backend Services: 5 min).
const MAX_ASSERTION_SECS: i64 = 300;

/// How the client authenticated: the presented credentials, before checking them.
enum Credentials<'a> {
    Secret {
        id: String,
        secret: Option<String>,
        basic: bool,
    },
    Assertion {
        claimed_id: Option<&'a str>,
        assertion: &'a str,
    },
}

/// Authenticates the client (RFC 6749 §2.3): HTTP Basic, body parameters, or a signed
/// assertion (`private_key_jwt`), exactly one of them, and as the client registered.
async fn authenticate(
    state: &AppState,
    context: &RequestContext,
    client_ip: ClientIp,
    headers: &HeaderMap,
    params: &Params,
) -> Result<OAuthClient, OAuthError> {
    let limits = &state.protect.limits;
    let address = state.protect.address_key(client_ip);
    limits.check(None, address, now()).await?;
    let credentials = credentials(headers, params)?;
    let basic = matches!(credentials, Credentials::Secret { basic: true, .. });
    let (id, verified) = match credentials {
        Credentials::Secret { id, secret, basic } => {
            let client = registered(state, &id).await?;
            let method = if basic {
                "client_secret_basic"
            } else {
                "client_secret_post"
            };
            let verified = client.filter(|c| {
                // A public client (PKCE) only names itself (RFC 6749 §2.3, §3.2.1).
                if c.token_endpoint_auth_method == "none" {
                    return !basic && secret.is_none();
                }
                c.token_endpoint_auth_method == method
                    && match (&c.secret_digest, &secret) {
                        (Some(stored), Some(presented)) => medvault_crypto::mac::digests_equal(
                            stored,
                            &OpaqueToken::presented(presented.clone()).digest(),
                        ),
                        _ => false,
                    }
            });
            (Some(id), verified)
        }
        Credentials::Assertion {
            claimed_id,
            assertion,
        } => {
            let id = client_assertion::claimed_subject(assertion)
                .filter(|sub| claimed_id.is_none_or(|c| c == sub));
            let verified = match &id {
                Some(id) => asserted(state, id, assertion).await?,
                None => None,
            };
            (id, verified)
        }
    };
    match verified {
        Some(client) => Ok(client),
        None => {
            // Only well-formed ids reach the trail; anything else is refused unnamed.
            let mut event = crate::audit::event(
                context,
                Actor::Anonymous,
                AuditAction::LoginFailure,
                Outcome::Denied,
            );
            if let Some(id) = id.filter(|id| is_client_id(id)) {
                event = crate::audit::about(event, "OAuthClient", id);
            }
            crate::audit::record(&state.audit, event).await?;
            let effect = limits.failed(None, address, now()).await?;
            crate::identity::sessions::record_security_events(state, context, &None, effect)
                .await?;
            Err(OAuthError::invalid_client(basic))
        }
    }
}

/// What the request presents: one method only (RFC 6749 §2.3); a body `client_id` may
/// only repeat what the other method names.
fn credentials<'a>(headers: &HeaderMap, params: &'a Params) -> Result<Credentials<'a>, OAuthError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, credentials)| credentials);
    let body_id = param(params, "client_id")?;
    let body_secret = param(params, "client_secret")?;
    let assertion_type = param(params, "client_assertion_type")?;
    let one_method = "use one client authentication method";
    if let Some(kind) = assertion_type {
        if basic.is_some() || body_secret.is_some() {
            return Err(OAuthError::invalid_request(one_method));
        }
        if kind != JWT_BEARER {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        let assertion = param(params, "client_assertion")?
            .ok_or_else(|| OAuthError::invalid_request("client_assertion is required"))?;
        return Ok(Credentials::Assertion {
            claimed_id: body_id,
            assertion,
        });
    }
    match basic {
        Some(_) if body_secret.is_some() => Err(OAuthError::invalid_request(one_method)),
        Some(encoded) => {
            let (id, secret) =
                basic_credentials(encoded).ok_or(OAuthError::invalid_client(true))?;
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from HTTP Basic",
                ));
            }
            Ok(Credentials::Secret {
                id,
                secret: Some(secret),
                basic: true,
            })
        }
        None => match body_id {
            Some(id) => Ok(Credentials::Secret {
                id: id.to_owned(),
                secret: body_secret.map(str::to_owned),
                basic: false,
            }),
            None => Err(OAuthError::invalid_client(false)),
        },
    }
}

/// medvault's client ids are UUIDs: anything else is refused before the database.
fn is_client_id(id: &str) -> bool {
    uuid::Uuid::try_parse(id).is_ok_and(|u| u.hyphenated().to_string() == id)
}

pub(super) async fn registered(
    state: &AppState,
    id: &str,
) -> Result<Option<OAuthClient>, OAuthError> {
    if !is_client_id(id) {
        return Ok(None);
    }
    match state.store.oauth_client(id).await {
        Ok(client) => Ok(Some(client)),
        Err(StoreError::NotFound) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The client a `private_key_jwt` assertion proves, if it does: signed by a registered
/// key, for this token endpoint, `iss` = `sub` = the client, expiring within 5 minutes,
/// and its `jti` never seen before.
async fn asserted(
    state: &AppState,
    id: &str,
    assertion: &str,
) -> Result<Option<OAuthClient>, OAuthError> {
    let Some(client) = registered(state, id).await? else {
        return Ok(None);
    };
    if client.token_endpoint_auth_method != "private_key_jwt" {
        return Ok(None);
    }
    let audience = format!("{}/oauth2/token", state.identity.config.issuer);
    let keys = state.client_keys.of(&client, false).await;
    let mut verdict = client_assertion::verify(&keys, assertion, &audience);
    if verdict.is_err() && client.jwks_uri.is_some() {
        // The client may have rotated its published keys since they were fetched.
        let keys = state.client_keys.of(&client, true).await;
        verdict = client_assertion::verify(&keys, assertion, &audience);
    }
    let claims = match verdict {
        Ok(claims) => claims,
        Err(reason) => {
            tracing::info!(reason = %reason, "a client assertion was refused");
            return Ok(None);
        }
    };
    if claims.iss != client.client_id
        || claims.sub != client.client_id
        || claims.exp > now().as_secs() + MAX_ASSERTION_SECS
    {
        return Ok(None);
    }
    let skew = i64::try_from(medvault_crypto::jwt::CLOCK_SKEW_SECS).unwrap_or(60);
    let until = medvault_domain::UnixMillis(claims.exp.saturating_add(skew).saturating_mul(1000));
    let first_use = state
        .store
        .claim_assertion_id(&format!("{}:{}", client.client_id, claims.jti), until)
        .await?;
    Ok(first_use.then_some(client))
}

/// The `client_id:client_secret` of an HTTP Basic header, each form-urlencoded
/// (RFC 6749 §2.3.1).
fn basic_credentials(encoded: &str) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        // A raw `&` or `=` is not form-urlencoded: refuse rather than guess.
        if s.contains(['&', '=']) {
            return None;
        }
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

/// The token endpoint (RFC 6749 §3.2): `grant_type=client_credentials` with an optional
/// `scope` (at most what the client is registered for; all of it by default).
#[utoipa::path(post, path = "/oauth2/token", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", content = String),
    responses(
    (status = 200, description = "An access token (JWT, RFC 9068)", body = Object),
    (status = 400, description = "`invalid_request`, `unsupported_grant_type`, `unauthorized_client`, `invalid_scope`", body = Object),
    (status = 401, description = "`invalid_client`", body = Object),
))]
pub async fn token(
    State(state): State<AppState>,
    context: RequestContext,
    client_ip: ClientIp,
    headers: HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Result<impl IntoResponse, OAuthError> {
    let params = form_params(form)?;
    let grant = param(&params, "grant_type")?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?
        .to_owned();
    let client = authenticate(&state, &context, client_ip, &headers, &params).await?;
    let no_store = [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")];
    match grant.as_str() {
        "client_credentials" => {}
        "authorization_code" => {
            let body =
                super::grants::authorization_code(&state, &context, &client, &params).await?;
            return Ok((no_store, Json(body)));
        }
        "refresh_token" => {
            let body =
                super::grants::refresh_token(&state, &context, client_ip, &client, &params).await?;
            return Ok((no_store, Json(body)));
        }
        _ => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!(
                    "{grant:?} is not supported (authorization_code, refresh_token and \
                     client_credentials are)"
                ),
            ))
        }
    }
    if client.token_endpoint_auth_method == "none" {
        return Err(OAuthError::new(
            "unauthorized_client",
            "a public client cannot use client_credentials",
        ));
    }
    if !client.grant_types.iter().any(|g| g == "client_credentials") {
        return Err(OAuthError::new(
            "unauthorized_client",
            "this client is not registered for client_credentials",
        ));
    }
    // The client acts for itself: only its system/ scopes, whatever else it registered.
    let registered: Vec<Scope> = scopes::parse_all(&client.scope)
        .map_err(|e| OAuthError::server_error(format!("a stored client scope: {e}")))?
        .into_iter()
        .filter(Scope::is_system)
        .collect();
    let asked = match param(&params, "scope")? {
        None => registered.clone(),
        Some(asked) => scopes::parse_all(asked).map_err(|e| OAuthError::new("invalid_scope", e))?,
    };
    if asked.is_empty() {
        return Err(OAuthError::new(
            "invalid_scope",
            "no system/ scope to grant",
        ));
    }
    if let Some(extra) = asked
        .iter()
        .find(|a| !registered.iter().any(|r| r.covers(a)))
    {
        return Err(OAuthError::new(
            "invalid_scope",
            format!("{extra} is more than this client may have with client_credentials"),
        ));
    }
    // Granted in SMART v2 form, each once.
    let mut granted: Vec<String> = Vec::with_capacity(asked.len());
    for scope in asked.iter().map(ToString::to_string) {
        if !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    let granted = granted.join(" ");
    let config = &state.identity.config;
    let iat = now().as_secs();
    let claims = ClientClaims {
        iss: config.issuer.clone(),
        sub: client.client_id.clone(),
        aud: config.audience.clone(),
        exp: iat + config.access_token_ttl_secs,
        iat,
        nbf: iat,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: client.client_id.clone(),
        scope: granted.clone(),
    };
    let event = crate::audit::event(
        &context,
        Actor::Client {
            id: client.client_id.clone(),
        },
        AuditAction::LoginSuccess,
        Outcome::Success,
    );
    crate::audit::record(&state.audit, event).await?;
    let access_token = state.identity.keys.signer().sign(&claims);
    Ok((
        no_store,
        Json(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": config.access_token_ttl_secs,
            "scope": granted,
        })),
    ))
}

/// The claims of a client-credentials token, if `token` is one of medvault's. A token a
/// user granted a client also names the client, but its subject is the user: it is not
/// one of these.
pub(super) fn client_claims(state: &AppState, token: &str) -> Option<ClientClaims> {
    state
        .identity
        .keys
        .verifier()
        .verify::<ClientClaims>(token)
        .ok()
        .filter(|c| c.sub == c.client_id)
}

/// The authenticated client and the `token` it asks about (introspection, revocation).
async fn client_and_token(
    state: &AppState,
    context: &RequestContext,
    client_ip: ClientIp,
    headers: &HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Result<(OAuthClient, String), OAuthError> {
    let params = form_params(form)?;
    let client = authenticate(state, context, client_ip, headers, &params).await?;
    let token = param(&params, "token")?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?
        .to_owned();
    Ok((client, token))
}

/// Token introspection (RFC 7662): an authenticated client learns about its own tokens;
/// `{"active": false}` for anything else, expired, revoked, malformed or not medvault's.
#[utoipa::path(post, path = "/oauth2/introspect", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", content = String),
    responses(
    (status = 200, description = "The token's state", body = Object),
    (status = 401, description = "`invalid_client`", body = Object),
))]
pub async fn introspect(
    State(state): State<AppState>,
    context: RequestContext,
    client_ip: ClientIp,
    headers: HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Result<impl IntoResponse, OAuthError> {
    let (caller, token) = client_and_token(&state, &context, client_ip, &headers, form).await?;
    // A client learns about its own tokens only (RFC 7662 §2.1, §4): anything else, like
    // anything expired, revoked or not medvault's, is simply inactive.
    let body = match client_claims(&state, &token) {
        Some(c)
            if c.client_id == caller.client_id && !state.store.token_id_revoked(&c.jti).await? =>
        {
            json!({
                "active": true, "scope": c.scope, "client_id": c.client_id, "sub": c.sub,
                "token_type": "Bearer", "exp": c.exp, "iat": c.iat, "nbf": c.nbf,
                "iss": c.iss, "aud": c.aud, "jti": c.jti,
            })
        }
        Some(_) => json!({"active": false}),
        None => match super::grants::grant_token(&state, &token).await? {
            Some(found) if found.grant.client_id == caller.client_id && found.live => {
                super::grants::introspection(&state, &found)
            }
            _ => json!({"active": false}),
        },
    };
    Ok((
        [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
        Json(body),
    ))
}

/// Token revocation (RFC 7009): a client revokes the tokens it was issued (another
/// client's is refused, §2.1); anything that is not a live token is answered 200.
#[utoipa::path(post, path = "/oauth2/revoke", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", content = String),
    responses(
    (status = 200, description = "Revoked, or nothing to revoke"),
    (status = 401, description = "`invalid_client`", body = Object),
))]
pub async fn revoke(
    State(state): State<AppState>,
    context: RequestContext,
    client_ip: ClientIp,
    headers: HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Result<impl IntoResponse, OAuthError> {
    let (client, token) = client_and_token(&state, &context, client_ip, &headers, form).await?;
    if let Some(claims) = client_claims(&state, &token) {
        if claims.client_id != client.client_id {
            return Err(OAuthError::invalid_request(
                "the token was not issued to this client",
            ));
        }
        // Verification tolerates clock skew past `exp`: keep the revocation that long too.
        let skew = i64::try_from(medvault_crypto::jwt::CLOCK_SKEW_SECS).unwrap_or(60);
        let until =
            medvault_domain::UnixMillis(claims.exp.saturating_add(skew).saturating_mul(1000));
        state.store.revoke_token_id(&claims.jti, until).await?;
        let event = crate::audit::about(
            crate::audit::event(
                &context,
                Actor::Client {
                    id: client.client_id.clone(),
                },
                AuditAction::SessionEnd,
                Outcome::Success,
            ),
            "AccessToken",
            &claims.jti,
        );
        crate::audit::record(&state.audit, event).await?;
    } else if let Some(found) = super::grants::grant_token(&state, &token).await? {
        if found.grant.client_id != client.client_id {
            return Err(OAuthError::invalid_request(
                "the token was not issued to this client",
            ));
        }
        // Either token of a user's grant ends the grant: its refresh family and every
        // access token of its session (RFC 7009 §2.1).
        crate::identity::sessions::revoke(&state, found.grant.session_id).await?;
        let event = crate::audit::with_session(
            crate::audit::event(
                &context,
                Actor::Client {
                    id: client.client_id.clone(),
                },
                AuditAction::SessionEnd,
                Outcome::Success,
            ),
            found.grant.session_id,
        );
        crate::audit::record(&state.audit, event).await?;
    }
    Ok([(CACHE_CONTROL, "no-store")])
}

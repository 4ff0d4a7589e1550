//! The token endpoint's user grants: `authorization_code` with PKCE (RFC 6749 §4.1.3,
//! RFC 7636 §4.6) and `refresh_token` (RFC 6749 §6), issuing SMART-scoped access tokens,
//! OpenID Connect ID tokens and, with `offline_access` or `online_access`, rotating
//! refresh tokens.
//!
//! Each grant is its own session (a refresh-token family) inside the SSO session it was
//! approved in: a replayed code or refresh token revokes that family, and signing out of
//! medvault ends it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use medvault_crypto::OpaqueToken;
use medvault_domain::{Actor, AuditAction, Outcome, Session, SessionId, User, UserStatus};
use medvault_store::{CodeRedemption, OAuthClient, OAuthGrant, StoreError};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::error::OAuthError;
use super::hosted::authorize::CodeDetails;
use super::scopes::{self, includes};
use super::token::{param, Params};
use crate::clock::now;
use crate::http::RequestContext;
use crate::identity::sessions;
use crate::protect::ClientIp;
use crate::{audit, ApiError, AppState};

fn invalid_grant(description: &str) -> OAuthError {
    OAuthError::new("invalid_grant", description)
}

fn require_grant_type(client: &OAuthClient, grant: &str) -> Result<(), OAuthError> {
    if client.grant_types.iter().any(|g| g == grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            "unauthorized_client",
            format!("this client is not registered for {grant}"),
        ))
    }
}

/// A PKCE verifier (RFC 7636 §4.1) whose S256 transform is the stored challenge.
fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let transformed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed
        && medvault_crypto::mac::digests_equal(
            &Sha256::digest(transformed.as_bytes()).into(),
            &Sha256::digest(challenge.as_bytes()).into(),
        )
}

/// `grant_type=authorization_code`.
pub async fn authorization_code(
    state: &AppState,
    context: &RequestContext,
    client: &OAuthClient,
    params: &Params,
) -> Result<Value, OAuthError> {
    require_grant_type(client, "authorization_code")?;
    let code =
        param(params, "code")?.ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let verifier = param(params, "code_verifier")?
        .ok_or_else(|| OAuthError::invalid_request("code_verifier is required (PKCE)"))?;
    let redirect_uri = param(params, "redirect_uri")?;
    let session_id = SessionId::new();
    let digest = OpaqueToken::presented(code.to_owned()).digest();
    let (code_client, details) = match state
        .store
        .redeem_authorization_code(&digest, session_id, now())
        .await?
    {
        CodeRedemption::Redeemed { client_id, details } => (client_id, details),
        CodeRedemption::Unknown => return Err(invalid_grant("the code is unknown or expired")),
        CodeRedemption::Reused(issued) => {
            // RFC 6749 §4.1.2: a code used twice was stolen; what it bought is revoked
            // (audited first: the record stands even if the revocation fails).
            if let Some(issued) = issued {
                let event = audit::with_session(
                    audit::event(
                        context,
                        Actor::Client {
                            id: client.client_id.clone(),
                        },
                        AuditAction::TokenReuseDetected,
                        Outcome::Denied,
                    ),
                    issued,
                );
                crate::protect::security_event(state, event).await?;
                sessions::revoke(state, issued).await?;
            }
            return Err(invalid_grant(
                "the code was used before; the tokens issued for it are revoked",
            ));
        }
    };
    let details: CodeDetails = serde_json::from_str(&details).map_err(OAuthError::server_error)?;
    if code_client != client.client_id {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if (details.redirect_given || redirect_uri.is_some())
        && redirect_uri != Some(details.redirect_uri.as_str())
    {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    if !verifier_matches(verifier, &details.code_challenge) {
        return Err(invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let user = state.store.user(details.user_id).await?;
    let sso = match state.store.session(details.sso_session_id).await {
        Ok(sso) => sso,
        Err(StoreError::NotFound) => return Err(invalid_grant("the sign-in has ended")),
        Err(err) => return Err(err.into()),
    };
    if user.status != UserStatus::Active
        || !sso.is_live(now())
        || state.identity.revoked.is_revoked(sso.id)
    {
        return Err(invalid_grant("the sign-in has ended"));
    }
    owes_nothing(state, &user).await?;
    let grant = OAuthGrant {
        session_id,
        client_id: client.client_id.clone(),
        sso_session_id: sso.id,
        scope: details.scope,
        patient: details.patient,
    };
    let (session, refresh) = sessions::open_session(
        state,
        context,
        &user,
        sso.amr.clone(),
        session_id,
        Some(&grant),
    )
    .await?;
    let id_signer = id_token_signer(state, client).await?;
    Ok(respond(
        state,
        &id_signer,
        client,
        &user,
        &sso,
        &session,
        &grant,
        &grant.scope,
        refresh,
        details.nonce,
    ))
}

/// `grant_type=refresh_token`: rotation with reuse detection, as for first-party sessions.
/// The token must have been issued to this client: another's ends the grant before it is
/// spent. A narrower `scope` may be asked. An `online_access` grant lives only as long as
/// the user's SSO session.
pub async fn refresh_token(
    state: &AppState,
    context: &RequestContext,
    client_ip: ClientIp,
    client: &OAuthClient,
    params: &Params,
) -> Result<Value, OAuthError> {
    require_grant_type(client, "refresh_token")?;
    let presented = OpaqueToken::presented(
        param(params, "refresh_token")?
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?
            .to_owned(),
    );
    let invalid = || invalid_grant("the refresh token is unknown, expired or revoked");
    // The grant is checked before the token is spent. An unknown token still goes on to
    // `rotate`, which counts the failure against the address.
    let mut known = None;
    if let Some((session, _)) = state
        .store
        .refresh_token_session(&presented.digest(), now())
        .await?
    {
        match state.store.oauth_grant(session).await? {
            Some(grant) if grant.client_id == client.client_id => known = Some(grant),
            // Another client's, or a first-party one: a leak; its family ends.
            _ => {
                sessions::misused(state, context, session).await?;
                return Err(invalid());
            }
        }
    }
    let (session, user, next) = match sessions::rotate(state, context, client_ip, presented).await {
        Ok(rotated) => rotated,
        Err(ApiError::Unauthorized {
            code: "invalid_grant",
            ..
        }) => return Err(invalid()),
        Err(err) => return Err(err.into()),
    };
    let grant = known
        .filter(|grant| grant.session_id == session.id)
        .ok_or_else(invalid)?;
    owes_nothing(state, &user).await?;
    let sso = state.store.session(grant.sso_session_id).await?;
    let sso_live = sso.is_live(now()) && !state.identity.revoked.is_revoked(sso.id);
    let online_only =
        includes(&grant.scope, "online_access") && !includes(&grant.scope, "offline_access");
    if online_only && !sso_live {
        sessions::revoke(state, session.id).await?;
        return Err(invalid_grant("online access ended with the user's sign-in"));
    }
    let scope = match param(params, "scope")? {
        None => grant.scope.clone(),
        Some(asked) => {
            let granted = scopes::parse_all(&grant.scope).map_err(OAuthError::server_error)?;
            let asked =
                scopes::parse_all(asked).map_err(|e| OAuthError::new("invalid_scope", e))?;
            if let Some(extra) = asked.iter().find(|a| !granted.iter().any(|g| g.covers(a))) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("{extra} was not granted"),
                ));
            }
            asked
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    let id_signer = id_token_signer(state, client).await?;
    Ok(respond(
        state, &id_signer, client, &user, &sso, &session, &grant, &scope, next, None,
    ))
}

/// Refuses a user who owes a step (a breached password to change, a required second
/// factor to enroll): the first-party API gives them nothing more either.
async fn owes_nothing(state: &AppState, user: &User) -> Result<(), OAuthError> {
    if crate::oauth::hosted::authorize::owes_a_step(state, user).await? {
        return Err(invalid_grant(
            "the account must change its password or enroll a second factor first",
        ));
    }
    Ok(())
}

/// The key for the client's ID tokens: ES256, or RS256 if it registered for that.
async fn id_token_signer(
    state: &AppState,
    client: &OAuthClient,
) -> Result<std::sync::Arc<medvault_crypto::jwt::SigningKey>, OAuthError> {
    state
        .identity
        .keys
        .id_token_signer(state.store.as_ref(), &client.id_token_signed_response_alg)
        .await
        .map_err(OAuthError::server_error)
}

/// The claims of an OpenID Connect ID token (Core §2).
#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    acr: &'a str,
    amr: &'a [String],
    sid: String,
    #[serde(rename = "fhirUser", skip_serializing_if = "Option::is_none")]
    fhir_user: Option<String>,
}

/// The token response: a SMART-scoped access token, an ID token with `openid`, a refresh
/// token with `offline_access` / `online_access`, and the launch context.
#[allow(clippy::too_many_arguments)]
fn respond(
    state: &AppState,
    id_signer: &medvault_crypto::jwt::SigningKey,
    client: &OAuthClient,
    user: &User,
    sso: &Session,
    session: &Session,
    grant: &OAuthGrant,
    scope: &str,
    refresh: OpaqueToken,
    nonce: Option<String>,
) -> Value {
    let identity = &state.identity;
    let at = now();
    let mut claims = identity.claims(user, session, at, scope.to_owned());
    claims.client_id = Some(client.client_id.clone());
    claims.launch_patient = grant.patient;
    let expires_in = (claims.exp - claims.iat).max(0);
    let fhir_user = crate::identity::tokens::fhir_user(user)
        .map(|r| format!("{}/{r}", state.fhir.base))
        .filter(|_| includes(scope, "fhirUser"));
    let mut body = json!({
        "access_token": identity.keys.signer().sign(&claims),
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope,
    });
    if includes(scope, "openid") {
        let id = IdClaims {
            iss: &identity.config.issuer,
            sub: user.id.to_string(),
            aud: &client.client_id,
            azp: &client.client_id,
            exp: at.as_secs() + identity.config.access_token_ttl_secs,
            iat: at.as_secs(),
            auth_time: sso.authenticated_at().as_secs(),
            nonce,
            acr: &claims.acr,
            amr: &claims.amr,
            sid: sso.id.to_string(),
            fhir_user,
        };
        body["id_token"] = json!(id_signer.sign_id_token(&id));
    }
    // Whether the grant (not a narrowed request) allows refreshing: a narrowed refresh
    // spends the old token, so it must get a new one.
    let may_refresh = client.grant_types.iter().any(|g| g == "refresh_token")
        && (includes(&grant.scope, "offline_access") || includes(&grant.scope, "online_access"));
    if may_refresh {
        body["refresh_token"] = json!(refresh.expose());
    }
    if let Some(patient) = grant.patient {
        body["patient"] = json!(patient.to_string());
        body["need_patient_banner"] = json!(true);
    }
    body
}

/// A token of a user's grant, presented for introspection or revocation.
pub struct GrantToken {
    pub grant: OAuthGrant,
    /// The access token's claims; `None` for a refresh token.
    pub access: Option<crate::identity::tokens::AccessClaims>,
    /// Whether the grant's session is still live.
    pub live: bool,
}

/// The grant behind an access or refresh token issued to a client for a user, if any.
pub async fn grant_token(state: &AppState, token: &str) -> Result<Option<GrantToken>, OAuthError> {
    let access = state
        .identity
        .keys
        .verifier()
        .verify::<crate::identity::tokens::AccessClaims>(token)
        .ok()
        .filter(|c| c.client_id.is_some());
    // A spent or expired refresh token is inactive, though it still names its grant.
    let found = match &access {
        Some(claims) => Some((claims.sid, true)),
        None => {
            let digest = OpaqueToken::presented(token.to_owned()).digest();
            state.store.refresh_token_session(&digest, now()).await?
        }
    };
    let Some((session_id, spendable)) = found else {
        return Ok(None);
    };
    let Some(grant) = state.store.oauth_grant(session_id).await? else {
        return Ok(None);
    };
    let session = state.store.session(session_id).await?;
    let live =
        spendable && session.is_live(now()) && !state.identity.revoked.is_revoked(session_id);
    Ok(Some(GrantToken {
        grant,
        access,
        live,
    }))
}

/// RFC 7662 §2.2 for a live token of a user's grant.
pub fn introspection(state: &AppState, found: &GrantToken) -> Value {
    let mut body = json!({
        "active": true,
        "client_id": found.grant.client_id,
        "scope": found.grant.scope,
        "iss": state.identity.config.issuer,
    });
    match &found.access {
        Some(c) => {
            for (name, value) in [
                ("scope", json!(c.scope)),
                ("sub", json!(c.sub.to_string())),
                ("token_type", json!("Bearer")),
                ("exp", json!(c.exp)),
                ("iat", json!(c.iat)),
                ("nbf", json!(c.nbf)),
                ("aud", json!(c.aud)),
                ("jti", json!(c.jti)),
            ] {
                body[name] = value;
            }
            if let (true, Some(user)) = (includes(&c.scope, "fhirUser"), &c.fhir_user) {
                body["fhirUser"] = json!(format!("{}/{user}", state.fhir.base));
            }
        }
        None => body["token_type"] = json!("refresh_token"),
    }
    if let Some(patient) = found.grant.patient {
        body["patient"] = json!(patient.to_string());
    }
    body
}

//! Passkey routes: registration and the credential list under `/api/v1/me`, sign-in (as a
//! second factor, or passwordless) and step-up under `/api/v1/auth`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use medvault_crypto::OpaqueToken;
use medvault_domain::{AuditAction, Outcome, UserStatus};
use medvault_store::{CeremonyKind, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

use super::api::SteppedUp;
use super::factors::Answer;
use super::webauthn::{self, Assertion};
use super::{signin, step_up, AMR_MFA, MAX_FAILURES};
use crate::clock::now;
use crate::http::{ApiJson, RequestContext};
use crate::identity::api::auth::TokenResponse;
use crate::identity::{Enrollee, Principal};
use crate::protect::ClientIp;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_registration))
        .routes(routes!(finish_registration))
        .routes(routes!(list_credentials))
        .routes(routes!(delete_credential))
        .routes(routes!(start_sign_in))
        .routes(routes!(finish_sign_in))
        .routes(routes!(start_passwordless))
        .routes(routes!(finish_passwordless))
        .routes(routes!(start_step_up))
        .routes(routes!(finish_step_up))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistration {
    /// The `ceremony` the start returned.
    ceremony: String,
    /// What to call this passkey in the list, e.g. "work laptop".
    nickname: Option<String>,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, JSON-encoded.
    #[schema(value_type = Object)]
    credential: RegisterPublicKeyCredential,
}

#[derive(Serialize, ToSchema)]
pub struct CredentialView {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    nickname: String,
    created_at: String,
    last_used_at: Option<String>,
}

impl From<medvault_store::WebAuthnCredential> for CredentialView {
    fn from(c: medvault_store::WebAuthnCredential) -> Self {
        let time = crate::identity::api::views::rfc3339;
        Self {
            id: c.id,
            kind: "passkey",
            nickname: c.nickname,
            created_at: time(c.created_at),
            last_used_at: c.last_used_at.map(time),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Registered {
    credential: CredentialView,
    /// Present when this is the account's first factor: 10 single-use recovery codes,
    /// shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_codes: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaTokenBody {
    mfa_token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishSignIn {
    mfa_token: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, JSON-encoded.
    #[schema(value_type = Object)]
    credential: PublicKeyCredential,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishCeremony {
    ceremony: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, JSON-encoded.
    #[schema(value_type = Object)]
    credential: PublicKeyCredential,
}

/// Start registering a passkey: returns `publicKey` creation options for
/// `navigator.credentials.create()` and a `ceremony` to finish with. User verification
/// (biometric or PIN) is required. Adding a factor when one exists needs a recent one.
#[utoipa::path(post, path = "/api/v1/me/webauthn/register/start", tag = "mfa", security(("bearer" = [])), responses(
    (status = 200, description = "Creation options and the ceremony", body = Object),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
))]
async fn start_registration(
    State(state): State<AppState>,
    Enrollee(me): Enrollee,
) -> Result<Json<Value>, ApiError> {
    super::api::require_step_up_to_add(&state, &me).await?;
    let user = state.store.user(me.user_id).await?;
    Ok(Json(
        webauthn::start_registration(&state, &user, me.session_id).await?,
    ))
}

/// Finish registering a passkey. The ceremony must be this session's; the response must
/// verify (user verified, this origin, this challenge); a credential registered already,
/// to anyone, is refused.
#[utoipa::path(post, path = "/api/v1/me/webauthn/register/finish", tag = "mfa", security(("bearer" = [])),
    request_body = FinishRegistration, responses(
    (status = 201, description = "Registered", body = Registered),
    (status = 409, description = "The passkey is registered already", content_type = "application/problem+json"),
    (status = 422, description = "Unknown, used or foreign ceremony, or a response that does not verify", content_type = "application/problem+json"),
))]
async fn finish_registration(
    State(state): State<AppState>,
    context: RequestContext,
    Enrollee(me): Enrollee,
    ApiJson(body): ApiJson<FinishRegistration>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    super::api::require_step_up_to_add(&state, &me).await?;
    let first = !super::enrolled(state.store.as_ref(), me.user_id).await?;
    let ceremony = OpaqueToken::presented(body.ceremony);
    let user = state.store.user(me.user_id).await?;
    let finished = webauthn::finish_registration(
        &state,
        me.user_id,
        me.session_id,
        &ceremony,
        body.nickname,
        &body.credential,
    )
    .await;
    let stored = match finished {
        Ok(stored) => stored,
        Err(err) => {
            signin::record(
                &state,
                &context,
                &user,
                AuditAction::MfaEnroll,
                Outcome::Denied,
            )
            .await?;
            return Err(err);
        }
    };
    signin::record(
        &state,
        &context,
        &user,
        AuditAction::MfaEnroll,
        Outcome::Success,
    )
    .await?;
    let recovery_codes = match first {
        true => Some(
            super::factors::new_recovery_codes(&state, me.user_id)
                .await?
                .iter()
                .map(|c| c.expose().to_owned())
                .collect(),
        ),
        false => None,
    };
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            credential: stored.into(),
            recovery_codes,
        }),
    ))
}

/// The caller's passkeys, with their nicknames and last use.
#[utoipa::path(get, path = "/api/v1/me/credentials", tag = "mfa", security(("bearer" = [])), responses(
    (status = 200, description = "Passkeys, oldest first", body = [CredentialView]),
))]
async fn list_credentials(
    State(state): State<AppState>,
    Enrollee(me): Enrollee,
) -> Result<Json<Vec<CredentialView>>, ApiError> {
    let credentials = state.store.webauthn_credentials(me.user_id).await?;
    Ok(Json(credentials.into_iter().map(Into::into).collect()))
}

/// Remove a passkey. Needs a recent second factor; removing the last factor raises a
/// security event.
#[utoipa::path(delete, path = "/api/v1/me/credentials/{id}", tag = "mfa", security(("bearer" = [])),
    params(("id" = String, Path, description = "The credential id")),
    responses(
    (status = 204, description = "Removed"),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
    (status = 404, description = "No such credential of the caller's", content_type = "application/problem+json"),
))]
async fn delete_credential(
    State(state): State<AppState>,
    context: RequestContext,
    me: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    step_up::require_recent_mfa(&state, &me).await?;
    state
        .store
        .delete_webauthn_credential(me.user_id, &id)
        .await?;
    super::api::factor_removed(&state, &context, me.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start the passkey step of a sign-in that answered `mfa_required`: returns `publicKey`
/// request options for `navigator.credentials.get()`.
#[utoipa::path(post, path = "/api/v1/auth/webauthn/start", tag = "mfa", request_body = MfaTokenBody, responses(
    (status = 200, description = "Request options", body = Object),
    (status = 401, description = "`invalid_mfa_token`", content_type = "application/problem+json"),
    (status = 409, description = "The user has no passkey", content_type = "application/problem+json"),
))]
async fn start_sign_in(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MfaTokenBody>,
) -> Result<Json<Value>, ApiError> {
    let token = OpaqueToken::presented(body.mfa_token);
    let digest = token.digest();
    let challenge = match state
        .store
        .mfa_challenge(&digest, now(), MAX_FAILURES)
        .await
    {
        Ok(challenge) => challenge,
        Err(StoreError::NotFound) => return Err(signin::INVALID_MFA_TOKEN),
        Err(err) => return Err(err.into()),
    };
    let options = webauthn::start_assertion(
        &state,
        challenge.user_id,
        None,
        digest,
        CeremonyKind::SignIn,
    )
    .await?;
    Ok(Json(webauthn::started(options, None)))
}

/// Complete a sign-in with a passkey. A failed assertion counts like a wrong code.
#[utoipa::path(post, path = "/api/v1/auth/webauthn/finish", tag = "mfa", request_body = FinishSignIn, responses(
    (status = 200, description = "Signed in", body = TokenResponse),
    (status = 401, description = "`invalid_code` (the assertion did not verify), or `invalid_mfa_token`", content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`", content_type = "application/problem+json"),
))]
async fn finish_sign_in(
    State(state): State<AppState>,
    context: RequestContext,
    client: ClientIp,
    ApiJson(body): ApiJson<FinishSignIn>,
) -> Result<Json<TokenResponse>, ApiError> {
    let token = OpaqueToken::presented(body.mfa_token);
    let answer = Answer::Passkey(Assertion {
        ceremony: token.digest(),
        kind: CeremonyKind::SignIn,
        session: None,
        credential: Box::new(body.credential),
    });
    let pair = signin::complete(&state, &context, client, token, answer).await?;
    Ok(Json(pair.into()))
}

/// Start a passwordless sign-in with a discoverable passkey: returns `publicKey` request
/// options (no allowed credentials: the authenticator offers its own) and a `ceremony`.
#[utoipa::path(post, path = "/api/v1/auth/passkey/start", tag = "mfa", responses(
    (status = 200, description = "Request options and the ceremony", body = Object),
    (status = 429, description = "`too_many_attempts` from this address", content_type = "application/problem+json"),
))]
async fn start_passwordless(
    State(state): State<AppState>,
    client: ClientIp,
) -> Result<Json<Value>, ApiError> {
    let address = state.protect.address_key(client);
    state.protect.limits.check(None, address, now()).await?;
    Ok(Json(webauthn::start_passwordless(&state).await?))
}

/// Finish a passwordless sign-in. The passkey (with user verification) is both factors:
/// something held and something known or been. Failures are audited and count against
/// the address, and against the account once the passkey names one.
#[utoipa::path(post, path = "/api/v1/auth/passkey/finish", tag = "mfa", request_body = FinishCeremony, responses(
    (status = 200, description = "Signed in", body = TokenResponse),
    (status = 401, description = "`invalid_credential`", content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`", content_type = "application/problem+json"),
))]
async fn finish_passwordless(
    State(state): State<AppState>,
    context: RequestContext,
    client: ClientIp,
    ApiJson(body): ApiJson<FinishCeremony>,
) -> Result<Json<TokenResponse>, ApiError> {
    let limits = &state.protect.limits;
    let address = state.protect.address_key(client);
    limits.check(None, address, now()).await?;
    let ceremony = OpaqueToken::presented(body.ceremony);
    let outcome = webauthn::finish_passwordless(&state, &ceremony, &body.credential).await?;
    let (user, verified) = match outcome {
        webauthn::Passwordless::Verified(user, verified) if user.status == UserStatus::Active => {
            (user, verified)
        }
        webauthn::Passwordless::Verified(user, _) => {
            return Err(passwordless_failed(&state, &context, address, Some(user)).await?)
        }
        webauthn::Passwordless::Failed(user) => {
            return Err(passwordless_failed(&state, &context, address, user).await?)
        }
    };
    limits
        .check(Some(user.email.as_str()), address, now())
        .await?;
    limits.clear(user.email.as_str()).await?;
    signin::record(&state, &context, &user, verified.action(), Outcome::Success).await?;
    let mut amr: Vec<String> = verified.methods().iter().map(|m| (*m).to_owned()).collect();
    amr.push(AMR_MFA.to_owned());
    let pair = crate::identity::sessions::start_session(&state, &context, &user, amr).await?;
    Ok(Json(pair.into()))
}

/// Records a failed passwordless sign-in like a failed password: audited, counted against
/// the address and the account it named, lockouts raised. Returns the client's answer.
async fn passwordless_failed(
    state: &AppState,
    context: &RequestContext,
    address: Option<std::net::IpAddr>,
    user: Option<medvault_domain::User>,
) -> Result<ApiError, ApiError> {
    let mut event = crate::audit::event(
        context,
        medvault_domain::Actor::Anonymous,
        AuditAction::LoginFailure,
        Outcome::Denied,
    );
    if let Some(user) = &user {
        event = crate::audit::about(event, "User", user.id);
    }
    crate::audit::record(&state.audit, event).await?;
    let account = user.as_ref().map(|u| u.email.as_str().to_owned());
    let effect = state
        .protect
        .limits
        .failed(account.as_deref(), address, now())
        .await?;
    crate::identity::sessions::record_security_events(state, context, &user, effect).await?;
    Ok(ApiError::Unauthorized {
        code: "invalid_credential",
        bearer: false,
    })
}

/// Start a passkey step-up for this session: returns request options and a `ceremony`.
#[utoipa::path(post, path = "/api/v1/auth/step-up/webauthn/start", tag = "mfa", security(("bearer" = [])), responses(
    (status = 200, description = "Request options and the ceremony", body = Object),
    (status = 409, description = "The user has no passkey", content_type = "application/problem+json"),
))]
async fn start_step_up(
    State(state): State<AppState>,
    me: Principal,
) -> Result<Json<Value>, ApiError> {
    let token = OpaqueToken::generate();
    let options = webauthn::start_assertion(
        &state,
        me.user_id,
        Some(me.session_id),
        token.digest(),
        CeremonyKind::StepUp,
    )
    .await?;
    Ok(Json(webauthn::started(options, Some(&token))))
}

/// Verify a passkey again for this session (RFC 9470 step-up); returns a new access token.
#[utoipa::path(post, path = "/api/v1/auth/step-up/webauthn/finish", tag = "mfa", security(("bearer" = [])),
    request_body = FinishCeremony, responses(
    (status = 200, description = "A fresh access token", body = SteppedUp),
    (status = 401, description = "`invalid_code`", content_type = "application/problem+json"),
))]
async fn finish_step_up(
    State(state): State<AppState>,
    context: RequestContext,
    me: Principal,
    ApiJson(body): ApiJson<FinishCeremony>,
) -> Result<Json<SteppedUp>, ApiError> {
    let answer = Answer::Passkey(Assertion {
        ceremony: OpaqueToken::presented(body.ceremony).digest(),
        kind: CeremonyKind::StepUp,
        session: Some(me.session_id),
        credential: Box::new(body.credential),
    });
    let stepped = step_up::step_up(&state, &context, &me, answer).await?;
    Ok(Json(stepped.into()))
}

// Ceremony tokens and credentials: never in Debug output.
crate::redact::redacted_debug!(
    FinishRegistration,
    CredentialView,
    Registered,
    MfaTokenBody,
    FinishSignIn,
    FinishCeremony
);

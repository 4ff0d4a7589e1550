//! Second-factor routes: enrollment under `/api/v1/me/mfa`, and sign-in completion and
//! step-up under `/api/v1/auth`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use medvault_crypto::OpaqueToken;
use medvault_domain::{AuditAction, Outcome};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::factors::{self, Answer};
use super::{signin, step_up};
use crate::http::{ApiJson, RequestContext};
use crate::identity::api::auth::TokenResponse;
use crate::identity::{Enrollee, Principal};
use crate::protect::ClientIp;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(start_totp, remove_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(regenerate_codes))
        .routes(routes!(reset_user_mfa))
        .routes(routes!(complete_sign_in))
        .routes(routes!(step_up_session))
        .merge(super::webauthn_api::router())
}

/// A second factor: a TOTP `code` or a `recovery_code`, exactly one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FactorAnswer {
    code: Option<String>,
    recovery_code: Option<String>,
}

impl FactorAnswer {
    fn answer(self) -> Result<Answer, ApiError> {
        match (self.code, self.recovery_code) {
            (Some(code), None) => Ok(Answer::Code(code)),
            (None, Some(code)) => Ok(Answer::RecoveryCode(code)),
            _ => Err(ApiError::Unprocessable {
                detail: "send either `code` or `recovery_code`".into(),
            }),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteSignIn {
    mfa_token: String,
    code: Option<String>,
    recovery_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatus {
    /// A confirmed TOTP factor exists.
    totp: bool,
    /// Registered passkeys (see `/api/v1/me/credentials`).
    passkeys: usize,
    recovery_codes_left: u32,
    /// The user's role requires a second factor.
    required: bool,
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnrollment {
    /// The shared secret, base32, for manual entry.
    secret: String,
    otpauth_uri: String,
    /// The `otpauth_uri` as a QR code.
    qr_svg: String,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Shown once: each works once, in place of a TOTP code.
    recovery_codes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SteppedUp {
    /// A new access token showing the verified second factor.
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

impl From<(String, i64)> for SteppedUp {
    /// What `step_up::step_up` returns: the token and its lifetime in seconds.
    fn from((access_token, expires_in): (String, i64)) -> Self {
        Self {
            access_token,
            token_type: "Bearer",
            expires_in,
        }
    }
}

fn codes(codes: Vec<medvault_crypto::recovery_code::RecoveryCode>) -> RecoveryCodes {
    RecoveryCodes {
        recovery_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
    }
}

/// The caller's second factors.
#[utoipa::path(get, path = "/api/v1/me/mfa", tag = "mfa", security(("bearer" = [])), responses(
    (status = 200, description = "Enrollment status", body = MfaStatus),
))]
async fn status(
    State(state): State<AppState>,
    Enrollee(me): Enrollee,
) -> Result<Json<MfaStatus>, ApiError> {
    let store = state.store.as_ref();
    let methods = super::Methods::of(store, me.user_id).await?;
    Ok(Json(MfaStatus {
        totp: methods.totp,
        passkeys: methods.passkeys,
        recovery_codes_left: store.unused_recovery_codes(me.user_id).await?,
        required: state.identity.config.mfa.requires(me.roles.iter().copied()),
    }))
}

/// Start TOTP enrollment: scan the QR code, then confirm with a first code.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp", tag = "mfa", security(("bearer" = [])), responses(
    (status = 200, description = "The secret to load into an authenticator app", body = TotpEnrollment),
    (status = 409, description = "TOTP is already enrolled", content_type = "application/problem+json"),
))]
async fn start_totp(
    State(state): State<AppState>,
    Enrollee(me): Enrollee,
) -> Result<Json<TotpEnrollment>, ApiError> {
    require_step_up_to_add(&state, &me).await?;
    let user = state.store.user(me.user_id).await?;
    let enrollment = factors::start(&state, &user).await?;
    Ok(Json(TotpEnrollment {
        secret: enrollment.secret.to_string(),
        otpauth_uri: enrollment.otpauth_uri,
        qr_svg: enrollment.qr_svg,
    }))
}

/// Confirm TOTP enrollment with a current code. As the account's first factor it returns
/// 10 recovery codes, shown once (otherwise an empty list: the existing codes stay).
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "mfa", security(("bearer" = [])),
    request_body = FactorAnswer, responses(
    (status = 200, description = "Enrolled", body = RecoveryCodes),
    (status = 401, description = "`invalid_code`", content_type = "application/problem+json"),
    (status = 409, description = "No enrollment pending", content_type = "application/problem+json"),
))]
async fn confirm_totp(
    State(state): State<AppState>,
    context: RequestContext,
    Enrollee(me): Enrollee,
    ApiJson(body): ApiJson<FactorAnswer>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let Answer::Code(code) = body.answer()? else {
        return Err(ApiError::Unprocessable {
            detail: "confirm enrollment with a TOTP `code`".into(),
        });
    };
    require_step_up_to_add(&state, &me).await?;
    let user = state.store.user(me.user_id).await?;
    let recovery = match factors::confirm(&state, me.user_id, &code).await {
        Ok(recovery) => recovery,
        Err(err) => {
            signin::record(
                &state,
                &context,
                &user,
                AuditAction::MfaFailure,
                Outcome::Denied,
            )
            .await?;
            return Err(err);
        }
    };
    // Confirming proves the factor: the session counts as having used it.
    let mut session = state.store.session(me.session_id).await?;
    for method in [super::AMR_OTP, super::AMR_MFA] {
        if !session.amr.iter().any(|m| m == method) {
            session.amr.push(method.to_owned());
        }
    }
    state
        .store
        .record_session_mfa(session.id, crate::clock::now(), &session.amr)
        .await?;
    signin::record(
        &state,
        &context,
        &user,
        AuditAction::MfaEnroll,
        Outcome::Success,
    )
    .await?;
    Ok(Json(codes(recovery)))
}

/// Remove TOTP (and the recovery codes). Needs a recent second factor (step-up).
#[utoipa::path(delete, path = "/api/v1/me/mfa/totp", tag = "mfa", security(("bearer" = [])), responses(
    (status = 204, description = "Removed"),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
))]
async fn remove_totp(
    State(state): State<AppState>,
    context: RequestContext,
    me: Principal,
) -> Result<StatusCode, ApiError> {
    step_up::require_recent_mfa(&state, &me).await?;
    state.store.delete_totp(me.user_id).await?;
    factor_removed(&state, &context, me.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adding a factor to an account that has one needs a recent one: otherwise a stolen
/// password session could add its own.
pub(super) async fn require_step_up_to_add(
    state: &AppState,
    me: &Principal,
) -> Result<(), ApiError> {
    if super::enrolled(state.store.as_ref(), me.user_id).await? {
        step_up::require_recent_mfa(state, me).await?;
    }
    Ok(())
}

/// Records a removed factor; when it was the user's last, their account is back to a
/// password alone, which is a security event.
pub(super) async fn factor_removed(
    state: &AppState,
    context: &RequestContext,
    user: medvault_domain::UserId,
) -> Result<(), ApiError> {
    let user = state.store.user(user).await?;
    signin::record(
        state,
        context,
        &user,
        AuditAction::MfaRemove,
        Outcome::Success,
    )
    .await?;
    if super::enrolled(state.store.as_ref(), user.id).await? {
        return Ok(());
    }
    // Recovery codes stand in for the factors; with none left they go too.
    state.store.replace_recovery_codes(user.id, &[]).await?;
    let actor = medvault_domain::Actor::User {
        id: user.id,
        roles: user.roles.iter().collect(),
    };
    let event = crate::audit::event(
        context,
        actor,
        AuditAction::SecurityMfaRemoved,
        Outcome::Success,
    );
    crate::protect::security_event(state, crate::audit::about(event, "User", user.id)).await
}

/// Replace the recovery codes; the old ones stop working. Needs a recent second factor.
#[utoipa::path(post, path = "/api/v1/me/mfa/recovery-codes", tag = "mfa", security(("bearer" = [])), responses(
    (status = 200, description = "New codes, shown once", body = RecoveryCodes),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
))]
async fn regenerate_codes(
    State(state): State<AppState>,
    context: RequestContext,
    me: Principal,
) -> Result<Json<RecoveryCodes>, ApiError> {
    step_up::require_recent_mfa(&state, &me).await?;
    let recovery = factors::regenerate_codes(&state, me.user_id).await?;
    let user = state.store.user(me.user_id).await?;
    signin::record(
        &state,
        &context,
        &user,
        AuditAction::MfaRecoveryCodesRegenerated,
        Outcome::Success,
    )
    .await?;
    Ok(Json(codes(recovery)))
}

/// Reset a user's second factors (a lost device): removes TOTP, passkeys and recovery codes and ends
/// the user's sessions. Admin only, with a recent second factor; raises a security event.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/mfa", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
    (status = 204, description = "Reset"),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
    (status = 403, description = "Caller is not an admin", content_type = "application/problem+json"),
    (status = 404, description = "No such user, or no second factor", content_type = "application/problem+json"),
))]
async fn reset_user_mfa(
    State(state): State<AppState>,
    context: RequestContext,
    admin: Principal,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<StatusCode, ApiError> {
    admin.require(medvault_domain::Role::Admin)?;
    step_up::require_recent_mfa(&state, &admin).await?;
    let user_id: medvault_domain::UserId = id.parse().map_err(|_| ApiError::NotFound)?;
    let totp = match state.store.delete_totp(user_id).await {
        Ok(()) => true,
        Err(medvault_store::StoreError::NotFound) => false,
        Err(err) => return Err(err.into()),
    };
    let passkeys = state.store.delete_webauthn_credentials(user_id).await?;
    if !totp && passkeys == 0 {
        return Err(ApiError::NotFound);
    }
    state.store.replace_recovery_codes(user_id, &[]).await?;
    crate::identity::sessions::revoke_all_of(&state, user_id).await?;
    let actor = medvault_domain::Actor::User {
        id: admin.user_id,
        roles: admin.roles.clone(),
    };
    let event = crate::audit::event(&context, actor, AuditAction::MfaRemove, Outcome::Success);
    crate::audit::record(
        &state.audit,
        crate::audit::about(event.clone(), "User", user_id),
    )
    .await?;
    let alarm = medvault_domain::AuditEvent {
        action: AuditAction::SecurityMfaRemoved,
        ..event
    };
    crate::protect::security_event(&state, crate::audit::about(alarm, "User", user_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Complete a sign-in that answered `mfa_required`.
#[utoipa::path(post, path = "/api/v1/auth/mfa", tag = "mfa", request_body = CompleteSignIn, responses(
    (status = 200, description = "Signed in", body = TokenResponse),
    (status = 401, description = "`invalid_code`, or `invalid_mfa_token` (unknown, used, expired, or dead after 5 wrong codes)", content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`", content_type = "application/problem+json"),
))]
async fn complete_sign_in(
    State(state): State<AppState>,
    context: RequestContext,
    client: ClientIp,
    ApiJson(body): ApiJson<CompleteSignIn>,
) -> Result<Json<TokenResponse>, ApiError> {
    let answer = FactorAnswer {
        code: body.code,
        recovery_code: body.recovery_code,
    }
    .answer()?;
    let token = OpaqueToken::presented(body.mfa_token);
    let pair = signin::complete(&state, &context, client, token, answer).await?;
    Ok(Json(pair.into()))
}

/// Verify a second factor again for this session (RFC 9470 step-up); returns a new access token.
#[utoipa::path(post, path = "/api/v1/auth/step-up", tag = "mfa", security(("bearer" = [])),
    request_body = FactorAnswer, responses(
    (status = 200, description = "A fresh access token", body = SteppedUp),
    (status = 401, description = "`invalid_code`", content_type = "application/problem+json"),
))]
async fn step_up_session(
    State(state): State<AppState>,
    context: RequestContext,
    me: Principal,
    ApiJson(body): ApiJson<FactorAnswer>,
) -> Result<Json<SteppedUp>, ApiError> {
    let stepped = step_up::step_up(&state, &context, &me, body.answer()?).await?;
    Ok(Json(stepped.into()))
}

// Bodies, codes and tokens: never in Debug output.
crate::redact::redacted_debug!(
    FactorAnswer,
    CompleteSignIn,
    TotpEnrollment,
    RecoveryCodes,
    SteppedUp
);

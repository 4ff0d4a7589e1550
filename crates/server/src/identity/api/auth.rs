//! `/api/v1/auth/*`: first-party sign-in for the project's own web and mobile apps.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use medvault_crypto::password::Password;
use medvault_crypto::OpaqueToken;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::{ApiJson, RequestContext};
use crate::identity::sessions;
use crate::identity::tokens::TokenPair;
use crate::identity::Principal;
use crate::protect::ClientIp;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(register))
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    #[schema(value_type = String, format = Password)]
    password: Password,
    /// The `token` of a proof-of-work challenge, when one was required.
    challenge_token: Option<String>,
    /// The nonce that solves it.
    challenge_solution: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: i64,
    /// Single use: each refresh returns a new one and spends the old.
    refresh_token: String,
}

/// A sign-in's answer: tokens, or a second factor to present at `/api/v1/auth/mfa`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    Tokens(TokenResponse),
    SecondFactor(MfaRequired),
}

#[derive(Serialize, ToSchema)]
pub struct MfaRequired {
    /// Always true.
    mfa_required: bool,
    /// Single use, valid 5 minutes and for 5 wrong codes.
    mfa_token: String,
    /// `totp` and `recovery_code`.
    methods: Vec<&'static str>,
}

impl From<TokenPair> for TokenResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token.expose().to_owned(),
        }
    }
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "identity", request_body = LoginRequest, responses(
    (status = 200, description = "Signed in, or a second factor is required (`mfa_required`)", body = LoginResponse),
    (status = 401, description = "`invalid_credentials`: the same for an unknown email, a wrong password and a disabled account; or `challenge_required` with a `challenge` to solve", content_type = "application/problem+json"),
    (status = 422, description = "Malformed email or password", content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`, with `Retry-After`: the same for existing and unknown accounts", content_type = "application/problem+json"),
))]
async fn login(
    State(state): State<AppState>,
    context: RequestContext,
    client: ClientIp,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let answer = request
        .challenge_token
        .zip(request.challenge_solution)
        .map(|(token, solution)| sessions::ChallengeAnswer { token, solution });
    let signed_in = sessions::login(
        &state,
        &context,
        client,
        &request.email,
        request.password,
        answer,
    )
    .await?;
    Ok(Json(match signed_in {
        sessions::SignIn::Tokens(pair) => LoginResponse::Tokens(pair.into()),
        sessions::SignIn::SecondFactor { mfa_token, methods } => {
            LoginResponse::SecondFactor(MfaRequired {
                mfa_required: true,
                mfa_token: mfa_token.expose().to_owned(),
                methods: methods.names(),
            })
        }
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    email: String,
    #[schema(value_type = String, format = Password)]
    password: Password,
    /// The `token` of a proof-of-work challenge, when one was required.
    challenge_token: Option<String>,
    /// The nonce that solves it.
    challenge_solution: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Registered {
    id: String,
}

/// Create a patient account (only with `--self-registration`); then sign in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "identity", request_body = RegisterRequest, responses(
    (status = 201, description = "Created", body = Registered),
    (status = 401, description = "`challenge_required`: solve the proof-of-work challenge and retry", content_type = "application/problem+json"),
    (status = 404, description = "Self-registration is off", content_type = "application/problem+json"),
    (status = 409, description = "The email is taken", content_type = "application/problem+json"),
    (status = 422, description = "Invalid email, or a password the policy refuses (weak or breached)", content_type = "application/problem+json"),
    (status = 429, description = "`too_many_attempts`", content_type = "application/problem+json"),
))]
async fn register(
    State(state): State<AppState>,
    context: RequestContext,
    client: ClientIp,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Registered>), ApiError> {
    let answer = request
        .challenge_token
        .zip(request.challenge_solution)
        .map(|(token, solution)| sessions::ChallengeAnswer { token, solution });
    let user = crate::identity::registration::register(
        &state,
        &context,
        client,
        &request.email,
        request.password,
        answer,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Registered {
            id: user.id.to_string(),
        }),
    ))
}

/// Exchange a refresh token for a new token pair. Reusing a spent refresh token ends the session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "identity", request_body = RefreshRequest, responses(
    (status = 200, description = "A new token pair", body = TokenResponse),
    (status = 401, description = "`invalid_grant`: unknown, spent, expired or revoked", content_type = "application/problem+json"),
))]
async fn refresh(
    State(state): State<AppState>,
    context: RequestContext,
    client: ClientIp,
    ApiJson(request): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let presented = OpaqueToken::presented(request.refresh_token);
    let pair = sessions::refresh(&state, &context, client, presented).await?;
    Ok(Json(pair.into()))
}

/// End the current session: its access and refresh tokens stop working at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "identity", security(("bearer" = [])), responses(
    (status = 204, description = "Signed out"),
    (status = 401, description = "No valid access token", content_type = "application/problem+json"),
))]
async fn logout(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
) -> Result<StatusCode, ApiError> {
    sessions::end_session(&state, &context, &principal, principal.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// Bodies, codes and tokens: never in Debug output.
crate::redact::redacted_debug!(RefreshRequest, TokenResponse, MfaRequired);

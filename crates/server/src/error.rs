//! One `ApiError` for the JSON API, mapped to status and body in a single `match`
//! (DESIGN.md §6). Bodies are RFC 9457 `application/problem+json`.
//!
//! `IntoResponse` attaches a [`Problem`] to the response; the `problems` middleware renders
//! it with the request id. That middleware also turns the framework's own bare error
//! responses (404, 405, 408, 413, panics) into problems, so no error escapes unformatted.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use medvault_store::BoxError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("request body is not valid JSON")]
    MalformedJson { detail: String },
    #[error("request body does not match the expected schema")]
    InvalidBody { detail: String },
    #[error("unsupported media type")]
    UnsupportedMediaType { detail: String },
    #[error("request body too large")]
    PayloadTooLarge,
    /// RFC 6750 §3 for bearer tokens; `code` is the `error` member of the body.
    #[error("unauthorized")]
    Unauthorized { code: &'static str, bearer: bool },
    /// A request the protocol itself rules out, e.g. a malformed `Authorization` header.
    #[error("invalid request")]
    InvalidRequest { detail: &'static str },
    #[error("forbidden")]
    Forbidden,
    /// RFC 9470: the operation needs a second factor verified within `max_age_secs`.
    #[error("step-up authentication required")]
    StepUpRequired { max_age_secs: i64 },
    /// The token may only enroll a second factor, which the user's role requires.
    #[error("second-factor enrollment required")]
    EnrollmentRequired,
    /// The token may only change the account's password, found in a breach list.
    #[error("password change required")]
    PasswordChangeRequired,
    /// Risk is elevated: retry with this proof-of-work challenge solved.
    #[error("challenge required")]
    ChallengeRequired { challenge: serde_json::Value },
    /// Too many failed attempts; the same answer for existing and unknown accounts.
    #[error("too many attempts")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("conflict")]
    Conflict { detail: String },
    /// An access policy set that does not parse or validate: each problem and its place.
    #[error("invalid policy set")]
    InvalidPolicy { problems: serde_json::Value },
    /// Well-formed JSON whose values break a rule (a weak password, an unknown role).
    #[error("unprocessable")]
    Unprocessable { detail: String },
    #[error("service unavailable")]
    Unavailable { detail: &'static str },
    /// Anything unexpected. The cause is logged with the request id; the client gets
    /// only a generic body, never `err.to_string()`.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl ApiError {
    pub fn internal(err: impl Into<BoxError>) -> Self {
        Self::Internal(err.into())
    }
}

/// The parts of an RFC 9457 problem a handler decides; the middleware adds `request_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    /// A stable, documented identifier: `urn:medvault:problem:<slug>`, or `about:blank`
    /// when the status code says everything.
    pub kind: &'static str,
    pub detail: Option<String>,
    /// A machine-readable code, rendered as the `error` member (e.g. `invalid_credentials`).
    pub code: Option<&'static str>,
    /// A proof-of-work challenge to solve, rendered as the `challenge` member.
    pub challenge: Option<serde_json::Value>,
    /// What exactly was wrong, rendered as the `errors` member (e.g. policy problems).
    pub errors: Option<serde_json::Value>,
}

impl Problem {
    /// A problem that only restates its status code.
    pub fn from_status(status: StatusCode) -> Self {
        Self {
            status,
            kind: "about:blank",
            detail: None,
            code: None,
            challenge: None,
            errors: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut code = None;
        let (status, kind, detail) = match self {
            Self::NotFound => (StatusCode::NOT_FOUND, "about:blank", None),
            Self::Unauthorized {
                code: error,
                bearer,
            } => {
                code = Some(error);
                let mut response = StatusCode::UNAUTHORIZED.into_response();
                if bearer {
                    let challenge = format!("Bearer error=\"{error}\"");
                    response.headers_mut().insert(
                        axum::http::header::WWW_AUTHENTICATE,
                        challenge
                            .parse()
                            .expect("a static challenge is a valid header"),
                    );
                }
                response.extensions_mut().insert(Problem {
                    status: StatusCode::UNAUTHORIZED,
                    kind: "urn:medvault:problem:unauthorized",
                    detail: None,
                    code,
                    challenge: None,
                    errors: None,
                });
                return response;
            }
            Self::StepUpRequired { max_age_secs } => {
                let mut response = StatusCode::UNAUTHORIZED.into_response();
                let challenge = format!(
                    "Bearer error=\"insufficient_user_authentication\", \
                     error_description=\"a second factor within the last {max_age_secs} seconds is required\", \
                     max_age={max_age_secs}"
                );
                if let Ok(value) = challenge.parse() {
                    response
                        .headers_mut()
                        .insert(axum::http::header::WWW_AUTHENTICATE, value);
                }
                response.extensions_mut().insert(Problem {
                    status: StatusCode::UNAUTHORIZED,
                    kind: "urn:medvault:problem:step-up-required",
                    detail: Some(format!(
                        "verify a second factor at /api/v1/auth/step-up (within {max_age_secs} s), then retry with the new token"
                    )),
                    code: Some("insufficient_user_authentication"),
                    challenge: None,
                    errors: None,
                });
                return response;
            }
            Self::EnrollmentRequired => {
                code = Some("mfa_enrollment_required");
                (
                    StatusCode::FORBIDDEN,
                    "urn:medvault:problem:mfa-enrollment-required",
                    Some("your role requires a second factor: enroll one at /api/v1/me/mfa/totp, then refresh your token".to_owned()),
                )
            }
            Self::PasswordChangeRequired => {
                code = Some("password_change_required");
                (
                    StatusCode::FORBIDDEN,
                    "urn:medvault:problem:password-change-required",
                    Some("your password appears in a breach list: change it at /api/v1/me/password, then refresh your token".to_owned()),
                )
            }
            Self::InvalidRequest { detail } => {
                code = Some("invalid_request");
                (
                    StatusCode::BAD_REQUEST,
                    "urn:medvault:problem:invalid-request",
                    Some(detail.to_owned()),
                )
            }
            Self::ChallengeRequired { challenge } => {
                let mut response = StatusCode::UNAUTHORIZED.into_response();
                response.extensions_mut().insert(Problem {
                    status: StatusCode::UNAUTHORIZED,
                    kind: "urn:medvault:problem:challenge-required",
                    detail: Some("solve the proof-of-work challenge and retry".to_owned()),
                    code: Some("challenge_required"),
                    challenge: Some(challenge),
                    errors: None,
                });
                return response;
            }
            Self::TooManyAttempts { retry_after_secs } => {
                let mut response = StatusCode::TOO_MANY_REQUESTS.into_response();
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, retry_after_secs.into());
                response.extensions_mut().insert(Problem {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    kind: "urn:medvault:problem:too-many-attempts",
                    detail: Some(format!("try again in {retry_after_secs} s")),
                    code: Some("too_many_attempts"),
                    challenge: None,
                    errors: None,
                });
                return response;
            }
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "urn:medvault:problem:forbidden",
                Some("your roles do not permit this".to_owned()),
            ),
            Self::InvalidPolicy { problems } => {
                let mut response = StatusCode::UNPROCESSABLE_ENTITY.into_response();
                response.extensions_mut().insert(Problem {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    kind: "urn:medvault:problem:invalid-policy",
                    detail: Some(
                        "the policy set was refused; the set in force is unchanged".to_owned(),
                    ),
                    code: Some("invalid_policy"),
                    challenge: None,
                    errors: Some(problems),
                });
                return response;
            }
            Self::Conflict { detail } => (
                StatusCode::CONFLICT,
                "urn:medvault:problem:conflict",
                Some(detail),
            ),
            Self::Unprocessable { detail } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "urn:medvault:problem:invalid-value",
                Some(detail),
            ),
            Self::MalformedJson { detail } => (
                StatusCode::BAD_REQUEST,
                "urn:medvault:problem:malformed-json",
                Some(detail),
            ),
            Self::InvalidBody { detail } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "urn:medvault:problem:invalid-body",
                Some(detail),
            ),
            Self::UnsupportedMediaType { detail } => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "urn:medvault:problem:unsupported-media-type",
                Some(detail),
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "urn:medvault:problem:payload-too-large",
                Some("the request body exceeds the configured limit".to_owned()),
            ),
            Self::Unavailable { detail } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "urn:medvault:problem:unavailable",
                Some(detail.to_owned()),
            ),
            Self::Internal(err) => {
                // Logged inside the request span, which carries the request id.
                tracing::error!(error = %error_chain(err.as_ref()), "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "about:blank", None)
            }
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(Problem {
            status,
            kind,
            detail,
            code,
            challenge: None,
            errors: None,
        });
        response
    }
}

/// `outer: inner: innermost`, for one log field or one line on stderr.
impl From<medvault_store::StoreError> for ApiError {
    fn from(err: medvault_store::StoreError) -> Self {
        match err {
            medvault_store::StoreError::NotFound => Self::NotFound,
            // A backend outage is an outage, never "not found".
            other => Self::internal(other),
        }
    }
}

pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

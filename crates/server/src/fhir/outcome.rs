//! FHIR errors are OperationOutcome resources (FHIR R4 §3.1.0.6), never problem+json.

use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::ApiError;

#[derive(Debug)]
pub struct OperationOutcome {
    status: StatusCode,
    /// An IssueType code: `invalid`, `not-supported`, `forbidden`, `login`, `exception`...
    code: &'static str,
    diagnostics: String,
    /// The failing element's path (FHIRPath), when one element is at fault.
    expression: Option<String>,
}

impl OperationOutcome {
    pub fn new(status: StatusCode, code: &'static str, diagnostics: impl Into<String>) -> Self {
        Self {
            status,
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }

    /// Names the element at fault.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.expression = Some(path.into());
        self
    }

    /// Places this error in entry `n` of a Bundle.
    pub fn within(mut self, n: usize) -> Self {
        self.diagnostics = format!("Bundle.entry[{n}]: {}", self.diagnostics);
        if let Some(path) = &mut self.expression {
            let element = path.split_once('.').map_or("", |(_, rest)| rest);
            *path = format!("Bundle.entry[{n}].resource.{element}")
                .trim_end_matches('.')
                .to_owned();
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The OperationOutcome resource itself, e.g. for a Bundle entry's `response.outcome`.
    pub fn resource(&self) -> serde_json::Value {
        let mut issue =
            json!({"severity": "error", "code": self.code, "diagnostics": self.diagnostics});
        if let Some(path) = &self.expression {
            issue["expression"] = json!([path]);
        }
        json!({"resourceType": "OperationOutcome", "issue": [issue]})
    }

    /// An outcome for a bare HTTP status, with the IssueType that fits it best.
    pub fn for_status(status: StatusCode, diagnostics: impl Into<String>) -> Self {
        let code = match status.as_u16() {
            401 => "login",
            403 => "forbidden",
            404 => "not-found",
            405 | 415 => "not-supported",
            408 => "timeout",
            409 | 412 => "conflict",
            413 => "too-costly",
            429 => "throttled",
            400..=499 => "invalid",
            503 => "transient",
            _ => "exception",
        };
        Self::new(status, code, diagnostics)
    }

    pub fn invalid(diagnostics: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", diagnostics)
    }

    pub fn not_supported(diagnostics: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "not-supported", diagnostics)
    }
}

/// A gate failure answered on the JSON API (no OperationOutcome there).
impl From<OperationOutcome> for ApiError {
    fn from(outcome: OperationOutcome) -> Self {
        match outcome.status() {
            StatusCode::NOT_FOUND | StatusCode::GONE => Self::NotFound,
            StatusCode::FORBIDDEN => Self::Forbidden,
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable {
                detail: "the audit trail is unavailable; nothing was read or written",
            },
            status => Self::internal(format!("record operation failed: {status}")),
        }
    }
}

/// Authentication, authorization and internal failures, in FHIR's terms.
impl From<ApiError> for OperationOutcome {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Unauthorized { .. } | ApiError::ChallengeRequired { .. } => Self::new(
                StatusCode::UNAUTHORIZED,
                "login",
                "a valid bearer token is required",
            ),
            ApiError::InvalidRequest { detail } => Self::invalid(detail),
            ApiError::TooManyAttempts { .. } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "too many attempts",
            ),
            ApiError::StepUpRequired { .. } => Self::new(
                StatusCode::UNAUTHORIZED,
                "login",
                "a recent second factor is required",
            ),
            ApiError::PasswordChangeRequired => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "change your password first",
            ),
            ApiError::EnrollmentRequired => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "enroll a second factor first",
            ),
            ApiError::Forbidden => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "your roles do not permit this",
            ),
            ApiError::NotFound => Self::new(StatusCode::NOT_FOUND, "not-found", "no such resource"),
            ApiError::Unavailable { detail } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "transient", detail)
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = %crate::error::error_chain(cause.as_ref()), "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "exception",
                    "internal error",
                )
            }
            ApiError::MalformedJson { detail } | ApiError::InvalidBody { detail } => {
                Self::invalid(detail)
            }
            ApiError::Unprocessable { detail } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "processing", detail)
            }
            ApiError::UnsupportedMediaType { detail } => {
                Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "not-supported", detail)
            }
            ApiError::PayloadTooLarge => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-costly",
                "the request body exceeds the configured limit",
            ),
            ApiError::Conflict { detail } => Self::new(StatusCode::CONFLICT, "conflict", detail),
            ApiError::InvalidPolicy { .. } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "processing",
                "the policy set was refused",
            ),
        }
    }
}

impl From<medvault_store::StoreError> for OperationOutcome {
    fn from(err: medvault_store::StoreError) -> Self {
        ApiError::from(err).into()
    }
}

impl IntoResponse for OperationOutcome {
    fn into_response(self) -> Response {
        let body = self.resource();
        let mut response = (
            self.status,
            [(CONTENT_TYPE, super::CONTENT_TYPE)],
            body.to_string(),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, "Bearer".parse().expect("a valid header"));
        }
        response
    }
}

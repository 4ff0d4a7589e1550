//! OAuth errors in their protocol's format: `{"error", "error_description"}` with the
//! codes of RFC 6749 §5.2, RFC 7591 §3.2.2 and RFC 7009, never cached.

use axum::http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    /// The client authenticated with HTTP Basic: a 401 says how (RFC 6749 §5.2).
    pub basic: bool,
    /// Seconds to wait, for a 429.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
            basic: false,
            retry_after: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    pub fn invalid_client(basic: bool) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_client",
            description: "client authentication failed".into(),
            basic,
            retry_after: None,
        }
    }

    /// Something of medvault's own failed: the client learns only that.
    pub fn server_error(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "an OAuth request failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "server_error",
            description: "the server could not complete the request".into(),
            basic: false,
            retry_after: None,
        }
    }
}

impl From<medvault_store::StoreError> for OAuthError {
    fn from(err: medvault_store::StoreError) -> Self {
        Self::server_error(err)
    }
}

impl From<crate::ApiError> for OAuthError {
    fn from(err: crate::ApiError) -> Self {
        match err {
            // RFC 6749 has no code for throttling: a 429 that says when to come back.
            crate::ApiError::TooManyAttempts { retry_after_secs } => Self {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "invalid_request",
                description: "too many failed attempts from this address; try again later".into(),
                basic: false,
                retry_after: Some(retry_after_secs),
            },
            crate::ApiError::Unavailable { detail } => Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "temporarily_unavailable",
                description: detail.into(),
                basic: false,
                retry_after: None,
            },
            other => Self::server_error(other),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": self.code, "error_description": self.description}));
        let mut response = (
            self.status,
            [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")],
            body,
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(value) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
        }
        if self.basic && self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Basic realm=\"medvault\""),
            );
        }
        response
    }
}

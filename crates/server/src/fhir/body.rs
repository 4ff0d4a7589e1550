//! `FhirBody`: a FHIR JSON request body. Other media types are 415, malformed JSON is 400,
//! both as OperationOutcome; messages never quote the body (it is PHI).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use serde_json::Value;

use super::OperationOutcome;

pub struct FhirBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for FhirBody {
    type Rejection = OperationOutcome;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let mime = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|m| m.trim().to_ascii_lowercase());
        if !matches!(
            mime.as_deref(),
            Some("application/fhir+json" | "application/json")
        ) {
            return Err(OperationOutcome::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "not-supported",
                "medvault accepts FHIR as application/fhir+json only",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    OperationOutcome::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too-costly",
                        "the request body exceeds the configured limit",
                    )
                } else {
                    OperationOutcome::invalid("the request body could not be read")
                }
            })?;
        serde_json::from_slice(&bytes).map(FhirBody).map_err(|err| {
            OperationOutcome::invalid(format!(
                "the body is not valid JSON (line {}, column {})",
                err.line(),
                err.column()
            ))
        })
    }
}

// Bodies, codes and tokens: never in Debug output.
crate::redact::redacted_debug!(FhirBody);

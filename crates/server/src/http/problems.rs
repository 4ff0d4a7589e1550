//! Renders every error response as RFC 9457 `application/problem+json` with the request id.
//!
//! Handlers attach a [`Problem`] through `ApiError`. Error responses made by the framework
//! itself (unknown route, wrong method, timeout, body limit) arrive bare and are given a
//! problem built from their status. Responses that already speak their protocol's error
//! format (OAuth JSON, FHIR OperationOutcome) carry a JSON content type and pass unchanged,
//! as do the hosted pages' HTML error pages.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::Problem;
use crate::http::RequestId;

pub const CONTENT_TYPE_PROBLEM: &str = "application/problem+json";

#[derive(Serialize)]
struct Body9457<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge: Option<&'a serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a serde_json::Value>,
    request_id: Option<&'a str>,
}

pub async fn render(request: Request, next: Next) -> Response {
    let request_id = request.extensions().get::<RequestId>().cloned();
    let path = request.uri().path();
    let fhir = path == "/fhir" || path.starts_with("/fhir/");
    let response = next.run(request).await;
    let status = response.status();
    if !status.is_client_error() && !status.is_server_error() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let problem = match parts.extensions.remove::<Problem>() {
        Some(problem) => problem,
        None if speaks_its_protocol(&parts.headers) => return Response::from_parts(parts, body),
        None => Problem::from_status(status),
    };
    if fhir {
        // Under /fhir even the framework's own errors speak FHIR.
        let detail = problem
            .detail
            .clone()
            .unwrap_or_else(|| match problem.status.as_u16() {
                413 => "the request body exceeds the configured limit".to_owned(),
                _ => problem
                    .status
                    .canonical_reason()
                    .unwrap_or("error")
                    .to_lowercase(),
            });
        return crate::fhir::OperationOutcome::for_status(problem.status, detail).into_response();
    }
    let rendered = serde_json::to_vec(&Body9457 {
        kind: problem.kind,
        title: problem.status.canonical_reason().unwrap_or("Error"),
        status: problem.status.as_u16(),
        detail: problem.detail.as_deref(),
        error: problem.code,
        challenge: problem.challenge.as_ref(),
        errors: problem.errors.as_ref(),
        request_id: request_id.as_ref().map(RequestId::as_str),
    })
    .expect("a problem always serializes");
    parts.status = problem.status;
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_PROBLEM));
    Response::from_parts(parts, Body::from(rendered))
}

/// JSON in its protocol's error format, or an error page of the hosted sign-in pages,
/// which speak to a person in a browser.
fn speaks_its_protocol(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().ends_with("json") || mime.trim() == "text/html")
}

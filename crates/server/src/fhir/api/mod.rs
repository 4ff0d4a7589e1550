//! The FHIR REST routes. Handlers parse, call the record service or the gate, and render.

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use medvault_domain::{FhirId, ResourceType};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::gate::access::Accessor;
use super::gate::{Opened, PendingWrite};
use super::render::{fhir_json, fhir_text, version_headers};
use super::OperationOutcome;
use crate::oauth::caller::RecordCaller;
use crate::AppState;

mod everything;
mod history;
mod instance;
mod type_level;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(type_level::metadata))
        .routes(routes!(type_level::bundle))
        .routes(routes!(type_level::search_type, type_level::create))
        .routes(routes!(history::type_history))
        .routes(routes!(instance::read, instance::update, instance::delete))
        .routes(routes!(history::instance_history))
        .routes(routes!(instance::vread))
        .routes(routes!(everything::everything))
}

type Params = Query<Vec<(String, String)>>;
type FhirResult = Result<Response, OperationOutcome>;

fn resource_type(name: &str) -> Result<ResourceType, OperationOutcome> {
    name.parse().map_err(|_| {
        OperationOutcome::new(
            StatusCode::NOT_FOUND,
            "not-supported",
            "medvault does not store this resource type; see /fhir/metadata",
        )
    })
}

fn fhir_id(id: &str) -> Result<FhirId, OperationOutcome> {
    id.parse()
        .map_err(|_| OperationOutcome::invalid("the id in the URL is not a valid FHIR id"))
}

/// Interactions that take no parameters still refuse unknown ones rather than ignore them.
fn only_format(params: &[(String, String)]) -> Result<(), OperationOutcome> {
    for (key, value) in params {
        match key.as_str() {
            "_format"
                if matches!(
                    value.as_str(),
                    "json" | "application/json" | "application/fhir+json"
                ) => {}
            "_format" => {
                return Err(OperationOutcome::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "not-supported",
                    "medvault serves FHIR as JSON only",
                ))
            }
            other => {
                return Err(OperationOutcome::not_supported(format!(
                    "the parameter `{other}` is not supported here"
                )))
            }
        }
    }
    Ok(())
}

/// A signed-in user or a machine client; a refusal becomes an OperationOutcome.
fn accessor(caller: RecordCaller) -> Result<Accessor, OperationOutcome> {
    Ok(caller.0?)
}

fn opened_response(opened: Opened, base: &str) -> FhirResult {
    let headers = version_headers(&opened.record, base);
    match opened.resource {
        Some(resource) => Ok(fhir_json(StatusCode::OK, headers, &resource)),
        None => Err(OperationOutcome::new(
            StatusCode::GONE,
            "deleted",
            "the resource has been deleted",
        )),
    }
}

/// The answer to a write: the stored representation unless `Prefer: return=minimal`.
fn written_response(
    status: StatusCode,
    write: &PendingWrite,
    base: &str,
    headers: &HeaderMap,
) -> Response {
    let record = medvault_store::RecordVersion {
        resource_type: write.resource_type,
        id: write.id.clone(),
        version: write.version,
        last_updated: write.last_updated,
        compartment: write.compartment,
        deleted: write.resource.is_none(),
        sealed: Vec::new(),
        access_epoch: 0,
    };
    let minimal = headers
        .get("prefer")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("return=minimal"));
    let body = match (&write.resource, minimal) {
        (Some(resource), false) => resource.to_string(),
        _ => String::new(),
    };
    fhir_text(status, version_headers(&record, base), body)
}

//! Instance routes: read, versioned update, logical delete, vread.

use axum::extract::{Path, Query, State};
use axum::http::header::IF_MATCH;
use axum::http::{HeaderMap, StatusCode};

use super::{
    accessor, fhir_id, only_format, opened_response, resource_type, written_response, FhirResult,
    Params,
};
use crate::fhir::bundle::parse_if_match;
use crate::fhir::gate::Caller;
use crate::fhir::records::Created;
use crate::fhir::render::fhir_text;
use crate::fhir::{body::FhirBody, OperationOutcome};
use crate::http::RequestContext;
use crate::oauth::caller::RecordCaller;
use crate::AppState;

/// Read the current version.
#[utoipa::path(get, path = "/fhir/{type}/{id}", tag = "fhir", security(("bearer" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "The resource; ETag carries its version", content_type = "application/fhir+json"),
        (status = 404, description = "No such resource, or not visible to the caller", content_type = "application/fhir+json"),
        (status = 410, description = "Deleted", content_type = "application/fhir+json"),
))]
pub(super) async fn read(
    State(state): State<AppState>,
    principal: RecordCaller,
    context: RequestContext,
    Path((type_name, id)): Path<(String, String)>,
    Query(params): Params,
) -> FhirResult {
    let who = accessor(principal)?;
    let (t, id) = (resource_type(&type_name)?, fhir_id(&id)?);
    only_format(&params)?;
    let opened = state
        .fhir
        .gate
        .read(
            Caller {
                who: &who,
                context: &context,
            },
            t,
            &id,
            None,
        )
        .await?;
    opened_response(opened, &state.fhir.base)
}

/// Update with optimistic locking: `If-Match: W/"<version>"` must name the current version.
#[utoipa::path(put, path = "/fhir/{type}/{id}", tag = "fhir", security(("bearer" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "Updated", content_type = "application/fhir+json"),
        (status = 400, description = "Malformed resource or id mismatch", content_type = "application/fhir+json"),
        (status = 412, description = "If-Match names an older version", content_type = "application/fhir+json"),
))]
pub(super) async fn update(
    State(state): State<AppState>,
    principal: RecordCaller,
    context: RequestContext,
    Path((type_name, id)): Path<(String, String)>,
    headers: HeaderMap,
    FhirBody(body): FhirBody,
) -> FhirResult {
    let who = accessor(principal)?;
    let (t, id) = (resource_type(&type_name)?, fhir_id(&id)?);
    let caller = Caller {
        who: &who,
        context: &context,
    };
    let if_match = headers
        .get(IF_MATCH)
        .map(|v| parse_if_match(v.to_str().unwrap_or_default()))
        .transpose()?;
    let write = state
        .fhir
        .prepare_update(caller, t, id, body, if_match, &Created::new())
        .await?;
    let response = written_response(StatusCode::OK, &write, &state.fhir.base, &headers);
    state.fhir.gate.commit(caller, vec![write]).await?;
    Ok(response)
}

/// Delete logically: a new, empty version; history keeps the earlier ones.
#[utoipa::path(delete, path = "/fhir/{type}/{id}", tag = "fhir", security(("bearer" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 204, description = "Deleted")),
)]
pub(super) async fn delete(
    State(state): State<AppState>,
    principal: RecordCaller,
    context: RequestContext,
    Path((type_name, id)): Path<(String, String)>,
) -> FhirResult {
    let who = accessor(principal)?;
    let (t, id) = (resource_type(&type_name)?, fhir_id(&id)?);
    let caller = Caller {
        who: &who,
        context: &context,
    };
    if let Some(write) = state.fhir.prepare_delete(caller, t, id).await? {
        state.fhir.gate.commit(caller, vec![write]).await?;
    }
    Ok(fhir_text(
        StatusCode::NO_CONTENT,
        HeaderMap::new(),
        String::new(),
    ))
}

/// Read one version.
#[utoipa::path(get, path = "/fhir/{type}/{id}/_history/{vid}", tag = "fhir", security(("bearer" = [])),
    params(("type" = String, Path), ("id" = String, Path), ("vid" = u64, Path)),
    responses((status = 200, description = "That version", content_type = "application/fhir+json")),
)]
pub(super) async fn vread(
    State(state): State<AppState>,
    principal: RecordCaller,
    context: RequestContext,
    Path((type_name, id, version)): Path<(String, String, String)>,
    Query(params): Params,
) -> FhirResult {
    let who = accessor(principal)?;
    let (t, id) = (resource_type(&type_name)?, fhir_id(&id)?);
    only_format(&params)?;
    let version: u64 = version
        .parse()
        .map_err(|_| OperationOutcome::invalid("a version id is a number"))?;
    let opened = state
        .fhir
        .gate
        .read(
            Caller {
                who: &who,
                context: &context,
            },
            t,
            &id,
            Some(version),
        )
        .await?;
    opened_response(opened, &state.fhir.base)
}

//! Whole-server and type-level routes: metadata, Bundles, search, create.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{accessor, resource_type, written_response, FhirResult, Params};
use crate::fhir::gate::Caller;
use crate::fhir::records::{new_id, Created};
use crate::fhir::render::{self, fhir_json};
use crate::fhir::search::{self};
use crate::fhir::{body::FhirBody, capability};
use crate::http::RequestContext;
use crate::oauth::caller::RecordCaller;
use crate::AppState;

/// The server's CapabilityStatement (no sign-in needed).
#[utoipa::path(get, path = "/fhir/metadata", tag = "fhir", responses(
    (status = 200, description = "CapabilityStatement", content_type = "application/fhir+json"),
))]
pub(super) async fn metadata(State(state): State<AppState>) -> Response {
    let statement = capability::statement(
        &state.fhir.base,
        &state.identity.config.issuer,
        env!("CARGO_PKG_VERSION"),
    );
    fhir_json(StatusCode::OK, HeaderMap::new(), &statement)
}

/// A batch or transaction Bundle (a transaction is all or nothing).
#[utoipa::path(post, path = "/fhir", tag = "fhir", security(("bearer" = [])), responses(
    (status = 200, description = "batch-response or transaction-response Bundle", content_type = "application/fhir+json"),
    (status = 400, description = "Malformed Bundle or entry", content_type = "application/fhir+json"),
    (status = 422, description = "An entry breaks a rule; nothing was written", content_type = "application/fhir+json"),
))]
pub(super) async fn bundle(
    State(state): State<AppState>,
    principal: RecordCaller,
    context: RequestContext,
    FhirBody(body): FhirBody,
) -> FhirResult {
    let who = accessor(principal)?;
    let caller = Caller {
        who: &who,
        context: &context,
    };
    let response = state.fhir.bundle(caller, body).await?;
    Ok(fhir_json(StatusCode::OK, HeaderMap::new(), &response))
}

/// Search a type. Parameters are listed per type in /fhir/metadata; unknown ones are refused.
#[utoipa::path(get, path = "/fhir/{type}", tag = "fhir", security(("bearer" = [])),
    params(("type" = String, Path, description = "A stored resource type")),
    responses(
        (status = 200, description = "A searchset Bundle", content_type = "application/fhir+json"),
        (status = 400, description = "Unsupported or malformed parameter", content_type = "application/fhir+json"),
))]
pub(super) async fn search_type(
    State(state): State<AppState>,
    principal: RecordCaller,
    context: RequestContext,
    Path(type_name): Path<String>,
    Query(params): Params,
) -> FhirResult {
    let who = accessor(principal)?;
    let t = resource_type(&type_name)?;
    let search = search::parse(t, params)?;
    let page = state
        .fhir
        .gate
        .search(
            Caller {
                who: &who,
                context: &context,
            },
            &search,
        )
        .await?;
    let bundle = render::searchset(&state.fhir.base, t.as_str(), &search.echo, &page);
    Ok(fhir_json(StatusCode::OK, HeaderMap::new(), &bundle))
}

/// Create a resource; the server assigns its id.
#[utoipa::path(post, path = "/fhir/{type}", tag = "fhir", security(("bearer" = [])),
    params(("type" = String, Path, description = "A stored resource type")),
    responses(
        (status = 201, description = "Created; Location names the new version", content_type = "application/fhir+json"),
        (status = 400, description = "Malformed resource", content_type = "application/fhir+json"),
        (status = 415, description = "Not application/fhir+json", content_type = "application/fhir+json"),
        (status = 422, description = "A rule is broken, e.g. a reference to a missing resource", content_type = "application/fhir+json"),
))]
pub(super) async fn create(
    State(state): State<AppState>,
    principal: RecordCaller,
    context: RequestContext,
    Path(type_name): Path<String>,
    headers: HeaderMap,
    FhirBody(body): FhirBody,
) -> FhirResult {
    let who = accessor(principal)?;
    let t = resource_type(&type_name)?;
    let caller = Caller {
        who: &who,
        context: &context,
    };
    let write = state
        .fhir
        .prepare_create(caller, t, new_id(t), body, &Created::new())
        .await?;
    let response = written_response(StatusCode::CREATED, &write, &state.fhir.base, &headers);
    let mut writes = vec![write];
    writes.extend(state.fhir.registration_teams(caller, &writes).await?);
    state.fhir.gate.commit(caller, writes).await?;
    Ok(response)
}

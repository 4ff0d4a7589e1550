//! The FHIR REST routes. Handlers parse, call the record service or the gate, and render.

use axum::extract::{Path, Query, State};
use axum::http::header::IF_MATCH;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use medvault_domain::{FhirId, PatientId, ResourceType, UnixMillis};
use medvault_store::HistoryQuery;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::bundle::parse_if_match;
use super::dates::{self, Form};
use super::gate::access::Accessor;
use super::gate::{Caller, Opened, PendingWrite};
use super::records::{new_id, Created};
use super::render::{self, fhir_json, fhir_text, version_headers};
use super::search::{self, MAX_COUNT};
use super::{body::FhirBody, capability, OperationOutcome};
use crate::http::RequestContext;
use crate::identity::Principal;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(metadata))
        .routes(routes!(bundle))
        .routes(routes!(search_type, create))
        .routes(routes!(type_history))
        .routes(routes!(read, update, delete))
        .routes(routes!(instance_history))
        .routes(routes!(vread))
        .routes(routes!(everything))
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

/// A signed-in caller; the principal's refusal becomes an OperationOutcome.
fn accessor(principal: Result<Principal, ApiError>) -> Result<Accessor, OperationOutcome> {
    Ok(principal?.into())
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

/// The server's CapabilityStatement (no sign-in needed).
#[utoipa::path(get, path = "/fhir/metadata", tag = "fhir", responses(
    (status = 200, description = "CapabilityStatement", content_type = "application/fhir+json"),
))]
async fn metadata(State(state): State<AppState>) -> Response {
    let statement = capability::statement(&state.fhir.base, env!("CARGO_PKG_VERSION"));
    fhir_json(StatusCode::OK, HeaderMap::new(), &statement)
}

/// A batch or transaction Bundle (a transaction is all or nothing).
#[utoipa::path(post, path = "/fhir", tag = "fhir", security(("bearer" = [])), responses(
    (status = 200, description = "batch-response or transaction-response Bundle", content_type = "application/fhir+json"),
    (status = 400, description = "Malformed Bundle or entry", content_type = "application/fhir+json"),
    (status = 422, description = "An entry breaks a rule; nothing was written", content_type = "application/fhir+json"),
))]
async fn bundle(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
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
async fn search_type(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
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
async fn create(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
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
    state.fhir.gate.commit(caller, vec![write]).await?;
    Ok(response)
}

/// Read the current version.
#[utoipa::path(get, path = "/fhir/{type}/{id}", tag = "fhir", security(("bearer" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses(
        (status = 200, description = "The resource; ETag carries its version", content_type = "application/fhir+json"),
        (status = 404, description = "No such resource, or not visible to the caller", content_type = "application/fhir+json"),
        (status = 410, description = "Deleted", content_type = "application/fhir+json"),
))]
async fn read(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
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
async fn update(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
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
async fn delete(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
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
async fn vread(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
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

/// The history of one resource, newest first (`_count`, `_since`).
#[utoipa::path(get, path = "/fhir/{type}/{id}/_history", tag = "fhir", security(("bearer" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "A history Bundle", content_type = "application/fhir+json")),
)]
async fn instance_history(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    context: RequestContext,
    Path((type_name, id)): Path<(String, String)>,
    Query(params): Params,
) -> FhirResult {
    let who = accessor(principal)?;
    let (t, id) = (resource_type(&type_name)?, fhir_id(&id)?);
    history(state, who, context, t, Some(id), params).await
}

/// The history of every resource of a type, newest first (`_count`, `_since`).
#[utoipa::path(get, path = "/fhir/{type}/_history", tag = "fhir", security(("bearer" = [])),
    params(("type" = String, Path)),
    responses((status = 200, description = "A history Bundle", content_type = "application/fhir+json")),
)]
async fn type_history(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    context: RequestContext,
    Path(type_name): Path<String>,
    Query(params): Params,
) -> FhirResult {
    let who = accessor(principal)?;
    let t = resource_type(&type_name)?;
    history(state, who, context, t, None, params).await
}

async fn history(
    state: AppState,
    who: Accessor,
    context: RequestContext,
    t: ResourceType,
    id: Option<FhirId>,
    params: Vec<(String, String)>,
) -> FhirResult {
    let mut query = HistoryQuery {
        resource_type: t,
        id: id.clone(),
        since: None,
        before: None,
        limit: search::criteria::DEFAULT_COUNT,
    };
    let mut echo = Vec::new();
    for (key, value) in params {
        match key.as_str() {
            "_count" => {
                query.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_COUNT).contains(n))
                    .ok_or_else(|| {
                        OperationOutcome::invalid(format!("_count is 1 to {MAX_COUNT}"))
                    })?;
            }
            "_since" => {
                let since = dates::parse(&value, Form::Search).ok_or_else(|| {
                    OperationOutcome::invalid(
                        "_since needs an instant such as 2024-03-01T10:00:00Z",
                    )
                })?;
                query.since = Some(UnixMillis(since.start));
            }
            "_cursor" => {
                query.before = Some(
                    parse_history_cursor(&value)
                        .ok_or_else(|| OperationOutcome::invalid("_cursor is malformed"))?,
                );
                continue;
            }
            _ => only_format(&[(key.clone(), value.clone())])?,
        }
        echo.push((key, value));
    }
    let entries = state
        .fhir
        .gate
        .history(
            Caller {
                who: &who,
                context: &context,
            },
            &query,
        )
        .await?;
    let base = &state.fhir.base;
    let path = match &id {
        Some(id) => format!("{base}/{t}/{id}/_history"),
        None => format!("{base}/{t}/_history"),
    };
    let link = |params: &[(String, String)]| {
        if params.is_empty() {
            path.clone()
        } else {
            format!("{path}?{}", render::query_string(params))
        }
    };
    let next = (entries.len() == query.limit as usize)
        .then(|| entries.last())
        .flatten()
        .map(|last| {
            let r = &last.record;
            let mut next = echo.clone();
            next.push((
                "_cursor".to_owned(),
                format!("{}_{}_{}", r.last_updated.0, r.id, r.version),
            ));
            link(&next)
        });
    let bundle = render::history(base, link(&echo), &entries, next);
    Ok(fhir_json(StatusCode::OK, HeaderMap::new(), &bundle))
}

/// `<lastUpdated>_<id>_<version>`; `_` never occurs in a FHIR id.
fn parse_history_cursor(text: &str) -> Option<(UnixMillis, FhirId, u64)> {
    let mut parts = text.split('_');
    let at = parts.next()?.parse().ok()?;
    let id = parts.next()?.parse().ok()?;
    let version = parts.next()?.parse().ok()?;
    parts
        .next()
        .is_none()
        .then_some((UnixMillis(at), id, version))
}

/// Every current record in a patient's compartment, paged (`_count`).
#[utoipa::path(get, path = "/fhir/Patient/{id}/$everything", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "A searchset Bundle", content_type = "application/fhir+json")),
)]
async fn everything(
    State(state): State<AppState>,
    principal: Result<Principal, ApiError>,
    context: RequestContext,
    Path(id): Path<String>,
    Query(params): Params,
) -> FhirResult {
    let who = accessor(principal)?;
    let patient: PatientId = id.parse().map_err(|_| {
        OperationOutcome::new(StatusCode::NOT_FOUND, "not-found", "no such resource")
    })?;
    let mut count = MAX_COUNT;
    let mut after = None;
    let mut echo = Vec::new();
    for (key, value) in params {
        match key.as_str() {
            "_count" => {
                count = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_COUNT).contains(n))
                    .ok_or_else(|| {
                        OperationOutcome::invalid(format!("_count is 1 to {MAX_COUNT}"))
                    })?;
            }
            "_cursor" => {
                after = Some(
                    render::parse_cursor(&value)
                        .ok_or_else(|| OperationOutcome::invalid("_cursor is malformed"))?,
                );
                continue;
            }
            _ => only_format(&[(key.clone(), value.clone())])?,
        }
        echo.push((key, value));
    }
    let page = state
        .fhir
        .gate
        .everything(
            Caller {
                who: &who,
                context: &context,
            },
            patient,
            after,
            count,
        )
        .await?;
    let bundle = render::searchset(
        &state.fhir.base,
        &format!("Patient/{id}/$everything"),
        &echo,
        &page,
    );
    Ok(fhir_json(StatusCode::OK, HeaderMap::new(), &bundle))
}

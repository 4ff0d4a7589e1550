//! History routes: one resource's versions, or a whole type's.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use medvault_domain::{FhirId, ResourceType, UnixMillis};
use medvault_store::HistoryQuery;

use super::{accessor, fhir_id, only_format, resource_type, FhirResult, Params};
use crate::fhir::dates::{self, Form};
use crate::fhir::gate::access::Accessor;
use crate::fhir::gate::Caller;
use crate::fhir::render::{self, fhir_json};
use crate::fhir::search;
use crate::fhir::OperationOutcome;
use crate::http::RequestContext;
use crate::oauth::caller::RecordCaller;
use crate::AppState;

/// The history of one resource, newest first (`_count`, `_since`).
#[utoipa::path(get, path = "/fhir/{type}/{id}/_history", tag = "fhir", security(("bearer" = [])),
    params(("type" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "A history Bundle", content_type = "application/fhir+json")),
)]
pub(super) async fn instance_history(
    State(state): State<AppState>,
    principal: RecordCaller,
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
pub(super) async fn type_history(
    State(state): State<AppState>,
    principal: RecordCaller,
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
        within: Vec::new(),
        limit: search::criteria::DEFAULT_COUNT,
    };
    let mut echo = Vec::new();
    for (key, value) in params {
        match key.as_str() {
            "_count" => {
                query.limit = search::criteria::parse_count(&value)?;
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
    let (entries, more) = state
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
    let next = more.then(|| entries.last()).flatten().map(|last| {
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

//! `Patient/$everything`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use medvault_domain::PatientId;

use super::{accessor, only_format, FhirResult, Params};
use crate::fhir::gate::Caller;
use crate::fhir::render::{self, fhir_json};
use crate::fhir::search::{self, MAX_COUNT};
use crate::fhir::OperationOutcome;
use crate::http::RequestContext;
use crate::oauth::caller::RecordCaller;
use crate::AppState;

/// Every current record in a patient's compartment, paged (`_count`).
#[utoipa::path(get, path = "/fhir/Patient/{id}/$everything", tag = "fhir", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, description = "A searchset Bundle", content_type = "application/fhir+json")),
)]
pub(super) async fn everything(
    State(state): State<AppState>,
    principal: RecordCaller,
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
                count = search::criteria::parse_count(&value)?;
            }
            "_cursor" => {
                after = Some(state.fhir.gate.open_cursor(&value, None)?);
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

//! `GET /api/v1/research/export`: de-identified records (HIPAA Safe Harbor) of the
//! patients whose Consent permits research, as FHIR NDJSON, for researchers. Which
//! patients is the access policies' call (`research`); the gate de-identifies.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use medvault_domain::Role;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::export::{send, ExportError, Lines};
use crate::fhir::gate::access::Accessor;
use crate::fhir::gate::Caller;
use crate::http::RequestContext;
use crate::identity::Principal;
use crate::{ApiError, AppState};

/// Patients per page: each page's records are held in memory until sent.
const PATIENTS_PER_PAGE: u32 = 20;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(research_export))
}

/// Every consenting patient's clinical records, de-identified: no names, contact details,
/// addresses, identifiers, free text or attachments; dates reduced to the year (birth
/// dates of the over-89s removed); ids replaced by stable keyed pseudonyms. Streamed as
/// FHIR NDJSON, one resource per line. Researchers only.
#[utoipa::path(get, path = "/api/v1/research/export", tag = "privacy", security(("bearer" = [])), responses(
    (status = 200, description = "FHIR NDJSON, streamed", content_type = "application/fhir+ndjson"),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
    (status = 403, description = "Caller is not a researcher", content_type = "application/problem+json"),
))]
async fn research_export(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
) -> Result<Response, ApiError> {
    principal.require(Role::Researcher)?;
    crate::mfa::step_up::require_recent_mfa(&state, &principal).await?;
    let who = Accessor::from(principal);
    let (lines, mut receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        match write(&state, &context, &who, &lines).await {
            Ok(()) => {}
            Err(ExportError::Gone) => tracing::info!("a research export was abandoned"),
            Err(err) => {
                tracing::error!(error = %err, "a research export failed part-way");
                // A broken stream rather than one that looks complete.
                let _ = lines
                    .send(Err(std::io::Error::other("export failed")))
                    .await;
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    Ok((
        [
            (CONTENT_TYPE, "application/fhir+ndjson"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"medvault-research.ndjson\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

async fn write(
    state: &AppState,
    context: &RequestContext,
    who: &Accessor,
    lines: &Lines,
) -> Result<(), ExportError> {
    let caller = Caller { who, context };
    let mut after = None;
    loop {
        let page = state
            .fhir
            .gate
            .research_page(caller, after.as_ref(), PATIENTS_PER_PAGE)
            .await?;
        for resource in page.resources {
            send(lines, resource).await?;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

//! `GET /api/v1/me/export`: the caller's data, streamed as NDJSON.

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::export;
use crate::fhir::gate::access::Accessor;
use crate::http::RequestContext;
use crate::identity::Principal;
use crate::{ApiError, AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_me))
        .routes(routes!(super::consents::list_consents))
        .routes(routes!(super::consents::withdraw_consent))
        .merge(super::erasure_api::router())
        .merge(super::research::router())
}

/// Everything medvault holds about the caller (GDPR Art. 15 and 20), as NDJSON: profile,
/// sessions, every version of their health records, who accessed them, and the purposes
/// and retention of each category. Needs a recent second factor when the caller has one.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "privacy", security(("bearer" = [])), responses(
    (status = 200, description = "NDJSON, streamed", content_type = "application/x-ndjson"),
    (status = 401, description = "`insufficient_user_authentication`: step up first", content_type = "application/problem+json"),
))]
async fn export_me(
    State(state): State<AppState>,
    context: RequestContext,
    principal: Principal,
) -> Result<Response, ApiError> {
    crate::mfa::step_up::require_recent_mfa(&state, &principal).await?;
    let user = state.store.user(principal.user_id).await?;
    let who = Accessor::from(principal);
    export::audit_start(&state, &context, &who).await?;
    let (lines, mut receiver) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let source = export::Source::of(&state);
        match export::write(source, &context, &who, Some(&user), user.patient_id, &lines).await {
            Ok(()) => {}
            // The client closed the connection: nothing is wrong on this side.
            Err(export::ExportError::Gone) => {
                tracing::info!("a data export was abandoned by the client")
            }
            Err(err) => {
                tracing::error!(error = %err, "a data export failed part-way");
                // The client sees a broken stream rather than a complete-looking export.
                let _ = lines
                    .send(Err(std::io::Error::other("export failed")))
                    .await;
            }
        }
    });
    let stream = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    Ok((
        [
            (CONTENT_TYPE, "application/x-ndjson"),
            (
                CONTENT_DISPOSITION,
                "attachment; filename=\"medvault-export.ndjson\"",
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

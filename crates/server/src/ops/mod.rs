//! Operations endpoints: liveness, readiness, metrics and the OpenAPI document.

use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{ApiError, AppState};

/// `/readyz` answers 503 rather than hang when the database does not answer within this.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` while the process serves requests.
    status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when every dependency answers.
    status: &'static str,
    /// The storage backend in use: `sqlite` or `postgres`.
    database: &'static str,
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database answers, so requests can be served.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "Ready", body = Readiness),
    (status = 503, description = "The database does not answer", content_type = "application/problem+json"),
))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    match tokio::time::timeout(READINESS_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(Json(Readiness {
            status: "ready",
            database: state.store.backend(),
        })),
        Ok(Err(err)) => {
            tracing::warn!(error = %crate::error::error_chain(&err), "readiness check failed");
            Err(ApiError::Unavailable {
                detail: "the database is not answering",
            })
        }
        Err(_) => Err(ApiError::Unavailable {
            detail: "the database did not answer in time",
        }),
    }
}

/// Prometheus metrics in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Metrics", content_type = "application/openmetrics-text", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

//! The application: shared state, every context's router merged in one place, and the
//! middleware stack every route runs through.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::{Json, Router};
use medvault_store::Store;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::audit::AuditTrail;
use crate::http::metrics::Metrics;
use crate::http::security_headers::SecurityHeaders;
use crate::http::{metrics, problems, request_id, security_headers};
use crate::identity::Identity;
use crate::{identity, ops, ApiError};

/// What every handler can reach. Cheap to clone: everything is behind an `Arc`.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub identity: Arc<Identity>,
    pub audit: Arc<AuditTrail>,
    pub protect: Arc<crate::protect::Protect>,
    pub fhir: Arc<crate::fhir::Fhir>,
    /// The access policies the PHI gate enforces.
    pub access: Arc<crate::access::Engine>,
    /// OAuth clients' published keys (`jwks_uri`), cached.
    pub client_keys: Arc<crate::oauth::client_keys::ClientKeys>,
}

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    /// FHIR bodies carry documents, so they get their own, larger limit.
    pub max_fhir_body_bytes: usize,
    pub request_timeout: Duration,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "medvault",
        description = "Identity, consent, audit and an encrypted FHIR R4 record store for healthcare apps."
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// Declares the `bearer` scheme that authenticated operations name.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Every route, with its OpenAPI description collected as it is added: the FHIR record
/// routes apart, since they take larger bodies.
fn routes() -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (records, records_doc) = crate::fhir::api::router().split_for_parts();
    // New bounded contexts merge their `router()` here.
    let (api, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(identity::api::router())
        .merge(crate::audit::api::router())
        .merge(crate::audit::fhir_search::router())
        .merge(crate::audit::access_log::router())
        .merge(crate::protect::api::router())
        .merge(crate::mfa::api::router())
        .merge(crate::privacy::api::router())
        .merge(crate::oauth::router())
        .merge(crate::access::api::router())
        .merge(crate::access::break_glass::router())
        .split_for_parts();
    doc.merge(records_doc);
    (api, records, doc)
}

pub fn router(state: AppState, limits: HttpLimits, tls: bool) -> Router {
    let (api, records, openapi) = routes();
    let openapi = Arc::new(openapi);
    let limited = |router: Router<AppState>, bytes: usize| {
        router
            .layer(DefaultBodyLimit::max(bytes))
            .layer(RequestBodyLimitLayer::new(bytes))
    };
    // Layers run outermost-last: a request passes request_id first, the handler last.
    limited(api, limits.max_body_bytes)
        .merge(limited(records, limits.max_fhir_body_bytes))
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { Json(openapi.as_ref().clone()) }),
        )
        .fallback(|| async { ApiError::NotFound })
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(|_panic| {
            // The payload may quote data; it is deliberately not logged or returned.
            ApiError::internal("a handler panicked").into_response()
        }))
        .layer(from_fn_with_state(state.metrics.clone(), metrics::record))
        .layer(from_fn(problems::render))
        .layer(from_fn_with_state(
            SecurityHeaders { tls },
            security_headers::apply,
        ))
        .layer(from_fn(request_id::assign))
        .with_state(state)
}

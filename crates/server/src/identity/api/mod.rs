//! The identity context's HTTP routes.

mod admin;
pub mod auth;
mod jwks;
mod me;
pub mod views;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(me::router())
        .merge(admin::router())
        .merge(jwks::router())
}

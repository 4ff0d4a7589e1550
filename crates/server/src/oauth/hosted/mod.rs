//! The hosted pages of the authorization server: the authorization endpoint's sign-in,
//! second-factor and consent steps, sign-out, and the SSO session they share.

pub mod authorize;
mod logout;
mod pages;
mod sso;

use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize::authorize))
        .routes(routes!(authorize::login))
        .routes(routes!(authorize::second_factor))
        .routes(routes!(authorize::consent))
        .routes(routes!(logout::confirm, logout::logout))
        .route(
            "/oauth2/assets/pages.css",
            get(|| async { pages::asset("text/css; charset=utf-8", pages::STYLESHEET) }),
        )
        .route(
            "/oauth2/assets/passkey.js",
            get(|| async { pages::asset("text/javascript; charset=utf-8", pages::PASSKEY_SCRIPT) }),
        )
        .route(
            "/oauth2/assets/sign-in.js",
            get(|| async { pages::asset("text/javascript; charset=utf-8", pages::SIGN_IN_SCRIPT) }),
        )
}

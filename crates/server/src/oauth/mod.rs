//! The OAuth 2.0 / OpenID Connect provider with SMART on FHIR: client registration (RFC
//! 7591 metadata; admin API and CLI); the authorization code flow with PKCE through hosted
//! sign-in, second-factor and consent pages and an SSO session (`hosted`); the token
//! endpoint's grants (client credentials in `token.rs`, authorization code and refresh in
//! `grants.rs`) with ID tokens; userinfo, introspection (RFC 7662), revocation (RFC 7009),
//! RP-initiated logout; discovery and the SMART configuration; and the FHIR API's view of
//! a token's caller (`caller.rs`).

mod admin_api;
pub mod caller;
pub mod client_keys;
pub mod clients;
mod discovery;
mod error;
mod grants;
mod hosted;
pub mod scopes;
mod token;
mod userinfo;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use error::OAuthError;
pub use token::ClientClaims;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(discovery::openid_configuration))
        .routes(routes!(discovery::oauth_metadata))
        .routes(routes!(discovery::smart_configuration))
        .routes(routes!(discovery::fhir_smart_configuration))
        .routes(routes!(token::token))
        .routes(routes!(token::introspect))
        .routes(routes!(token::revoke))
        .routes(routes!(userinfo::userinfo_get, userinfo::userinfo_post))
        .merge(hosted::router())
        .merge(admin_api::router())
}

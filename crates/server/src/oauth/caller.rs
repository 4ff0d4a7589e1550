//! Who calls the FHIR API: a signed-in user, or a machine client with a live
//! client-credentials token (not revoked, its client still registered).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use medvault_store::StoreError;

use super::scopes::{self, Scope};
use super::ClientClaims;
use crate::fhir::gate::access::{Accessor, ClientGrant};
use crate::identity::Principal;
use crate::{ApiError, AppState};

/// The record API's caller, or why there is none (kept for the protocol's own format).
#[derive(Debug)]
pub struct RecordCaller(pub Result<Accessor, ApiError>);

impl FromRequestParts<AppState> for RecordCaller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = match Principal::from_request_parts(parts, state).await {
            Ok(principal) => return Ok(Self(Ok(principal.into()))),
            Err(err) => err,
        };
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let claims = bearer.and_then(|token| {
            state
                .identity
                .keys
                .verifier()
                .verify::<ClientClaims>(token)
                .ok()
        });
        Ok(Self(match claims {
            Some(claims) => client(state, claims).await,
            None => Err(user),
        }))
    }
}

async fn client(state: &AppState, claims: ClientClaims) -> Result<Accessor, ApiError> {
    let dead = || ApiError::Unauthorized {
        code: "invalid_token",
        bearer: true,
    };
    if state.store.token_id_revoked(&claims.jti).await? {
        return Err(dead());
    }
    // A removed client's tokens die with it.
    match state.store.oauth_client(&claims.client_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(dead()),
        Err(err) => return Err(err.into()),
    }
    let scopes = scopes::parse_all(&claims.scope)
        .map_err(|_| dead())?
        .into_iter()
        .filter_map(|scope| match scope {
            Scope::Resource(r) => Some(r),
            Scope::Other(_) => None,
        })
        .collect();
    Ok(Accessor::client(ClientGrant {
        client_id: claims.client_id,
        scopes,
    }))
}

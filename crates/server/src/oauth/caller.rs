//! Who calls the FHIR API: a signed-in user, an app the user granted SMART scopes to
//! (authorization code), or a machine client with a live client-credentials token (not
//! revoked, its client still registered).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use medvault_store::StoreError;

use super::scopes::{self, Scope};
use super::ClientClaims;
use crate::fhir::gate::access::{Accessor, ClientGrant, DelegatedGrant};
use crate::identity::principal::first_party;
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
        // A user's token is verified once: first-party, or granted to an app.
        let user = match crate::identity::principal::verified(&parts.headers, state) {
            Ok((principal, claims)) => {
                return Ok(Self(match claims.client_id {
                    None => first_party(principal, &claims.scope).map(Accessor::from),
                    Some(client_id) => {
                        let patient = claims.launch_patient;
                        delegated(state, principal, client_id, &claims.scope, patient).await
                    }
                }))
            }
            Err(err) => err,
        };
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        let claims = bearer.and_then(|token| super::token::client_claims(state, token));
        Ok(Self(match claims {
            Some(claims) => client(state, claims).await,
            None => Err(user),
        }))
    }
}

fn dead() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_token",
        bearer: true,
    }
}

/// The resource scopes of a live token whose client is still registered: a removed
/// client's tokens die with it.
async fn live_scopes(
    state: &AppState,
    client_id: &str,
    scope: &str,
) -> Result<Vec<scopes::ResourceScope>, ApiError> {
    match state.store.oauth_client(client_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(dead()),
        Err(err) => return Err(err.into()),
    }
    Ok(scopes::parse_all(scope)
        .map_err(|_| dead())?
        .into_iter()
        .filter_map(|scope| match scope {
            Scope::Resource(r) => Some(r),
            Scope::Other(_) => None,
        })
        .collect())
}

async fn client(state: &AppState, claims: ClientClaims) -> Result<Accessor, ApiError> {
    if state.store.token_id_revoked(&claims.jti).await? {
        return Err(dead());
    }
    let scopes = live_scopes(state, &claims.client_id, &claims.scope).await?;
    Ok(Accessor::client(ClientGrant {
        client_id: claims.client_id,
        scopes,
    }))
}

/// A user's token granted to a client: the user, narrowed to the granted scopes.
async fn delegated(
    state: &AppState,
    principal: Principal,
    client_id: String,
    scope: &str,
    patient: Option<medvault_domain::PatientId>,
) -> Result<Accessor, ApiError> {
    let scopes = live_scopes(state, &client_id, scope).await?;
    let mut accessor = Accessor::from(principal);
    accessor.delegated = Some(DelegatedGrant {
        client_id,
        scopes,
        patient,
    });
    Ok(accessor)
}

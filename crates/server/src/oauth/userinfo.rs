//! `/oauth2/userinfo` (OpenID Connect Core §5.3): who the user of an app's access token is.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::Json;
use serde_json::{json, Value};

use super::scopes::{self, Scope};
use crate::{ApiError, AppState};

#[utoipa::path(get, path = "/oauth2/userinfo", tag = "oauth", responses(
    (status = 200, description = "The user's claims", body = Object),
    (status = 401, description = "No live access token"),
    (status = 403, description = "The token lacks the `openid` scope"),
))]
pub async fn userinfo_get(
    State(state): State<AppState>,
    parts: Request,
) -> Result<Json<Value>, ApiError> {
    userinfo(&state, parts.0)
}

#[utoipa::path(post, path = "/oauth2/userinfo", tag = "oauth", responses(
    (status = 200, description = "The user's claims", body = Object),
))]
pub async fn userinfo_post(
    State(state): State<AppState>,
    parts: Request,
) -> Result<Json<Value>, ApiError> {
    userinfo(&state, parts.0)
}

/// The request head, for the token check shared by GET and POST.
pub struct Request(Parts);

impl FromRequestParts<AppState> for Request {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.clone()))
    }
}

fn userinfo(state: &AppState, parts: Parts) -> Result<Json<Value>, ApiError> {
    let (_, claims) = crate::identity::principal::verified(&parts, state)?;
    let granted = scopes::parse_all(&claims.scope).unwrap_or_default();
    let has = |name: &str| {
        granted
            .iter()
            .any(|s| matches!(s, Scope::Other(o) if *o == name))
    };
    if claims.client_id.is_none() || !has("openid") {
        return Err(ApiError::Forbidden);
    }
    let mut body = json!({"sub": claims.sub.to_string()});
    if has("fhirUser") {
        if let Some(user) = &claims.fhir_user {
            body["fhirUser"] = json!(format!("{}/{user}", state.fhir.base));
        }
    }
    Ok(Json(body))
}

//! `/oauth2/userinfo` (OpenID Connect Core §5.3): who the user of an app's access token is.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::scopes::includes;
use crate::{ApiError, AppState};

#[utoipa::path(get, path = "/oauth2/userinfo", tag = "oauth", responses(
    (status = 200, description = "The user's claims", body = Object),
    (status = 401, description = "No live access token"),
    (status = 403, description = "The token lacks the `openid` scope"),
))]
pub async fn userinfo_get(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    userinfo(&state, &headers)
}

#[utoipa::path(post, path = "/oauth2/userinfo", tag = "oauth", responses(
    (status = 200, description = "The user's claims", body = Object),
))]
pub async fn userinfo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    userinfo(&state, &headers)
}

fn userinfo(state: &AppState, headers: &HeaderMap) -> Result<Json<Value>, ApiError> {
    let (_, claims) = crate::identity::principal::verified(headers, state)?;
    if claims.client_id.is_none() || !includes(&claims.scope, "openid") {
        return Err(ApiError::Forbidden);
    }
    let mut body = json!({"sub": claims.sub.to_string()});
    if includes(&claims.scope, "fhirUser") {
        if let Some(user) = &claims.fhir_user {
            body["fhirUser"] = json!(format!("{}/{user}", state.fhir.base));
        }
    }
    Ok(Json(body))
}

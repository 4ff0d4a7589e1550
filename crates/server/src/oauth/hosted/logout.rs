//! `/oauth2/logout`: OpenID Connect RP-Initiated Logout 1.0. The user confirms on a page
//! (CSRF-protected, so no other site can sign them out); the SSO session ends, and with it
//! every grant approved in it. The browser then returns to the app only if the address is
//! one the app registered.

use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use medvault_domain::{Actor, AuditAction, Outcome};
use serde::Deserialize;

use super::pages::{self, Page};
use super::sso;
use crate::http::RequestContext;
use crate::{audit, AppState};

/// The request's parameters (no `Debug`: `id_token_hint` is a token).
#[derive(Default, Deserialize)]
pub struct LogoutRequest {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

impl LogoutRequest {
    fn fields(&self) -> Vec<(&str, &str)> {
        [
            ("id_token_hint", &self.id_token_hint),
            ("client_id", &self.client_id),
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("state", &self.state),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }
}

/// Where to send the browser afterwards: `post_logout_redirect_uri` when it is one of the
/// redirect URIs registered by the client named in `client_id`. (`id_token_hint` is
/// accepted but not needed: the user confirms on the page either way.)
async fn return_address(
    state: &AppState,
    request: &LogoutRequest,
) -> Result<Option<String>, crate::ApiError> {
    let (Some(id), Some(uri)) = (&request.client_id, &request.post_logout_redirect_uri) else {
        return Ok(None);
    };
    let client = match state.store.oauth_client(id).await {
        Ok(client) => client,
        Err(medvault_store::StoreError::NotFound) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    Ok(client.redirect_uris.contains(uri).then(|| uri.clone()))
}

#[utoipa::path(get, path = "/oauth2/logout", tag = "oauth", responses(
    (status = 200, description = "The sign-out confirmation page (HTML)"),
))]
pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Result<Query<LogoutRequest>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(request)) = request else {
        return super::authorize::error_page(
            StatusCode::BAD_REQUEST,
            "The sign-out request is malformed.",
        );
    };
    let (csrf, cookie) = sso::csrf(&state, &headers);
    Page::new(
        StatusCode::OK,
        "Sign out",
        pages::sign_out(&csrf, &request.fields()),
    )
    .with_cookie(cookie)
    .into_response()
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: String,
    #[serde(flatten)]
    request: LogoutRequest,
}

#[utoipa::path(post, path = "/oauth2/logout", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", content = String),
    responses(
    (status = 200, description = "Signed out (HTML)"),
    (status = 303, description = "Signed out, back to the app's registered address"),
))]
pub async fn logout(
    State(state): State<AppState>,
    context: RequestContext,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return super::authorize::error_page(StatusCode::BAD_REQUEST, "The form was incomplete.");
    };
    if !sso::csrf_matches(&state, &headers, &form.csrf) {
        return super::authorize::error_page(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from medvault.",
        );
    }
    let result = async {
        if let Some((session, user)) = sso::current(&state, &headers).await? {
            // Every grant made in the SSO session ends with it.
            crate::identity::sessions::revoke(&state, session.id).await?;
            let actor = Actor::User {
                id: user.id,
                roles: user.roles.iter().collect(),
            };
            let event = audit::event(&context, actor, AuditAction::SessionEnd, Outcome::Success);
            audit::record(&state.audit, audit::with_session(event, session.id)).await?;
        }
        let back = return_address(&state, &form.request).await?;
        Ok::<_, crate::ApiError>(back)
    };
    let clear = sso::end(&state);
    match result.await {
        Ok(Some(uri)) => {
            let mut location = uri.clone();
            if let Some(s) = &form.request.state {
                let separator = if uri.contains('?') { '&' } else { '?' };
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("state", s)
                    .finish();
                location = format!("{uri}{separator}{query}");
            }
            Page::returning_to(&location)
                .with_cookie(Some(clear))
                .into_response()
        }
        Ok(None) => Page::new(
            StatusCode::OK,
            "Signed out",
            pages::message("You are signed out of medvault on this device."),
        )
        .with_cookie(Some(clear))
        .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "sign-out failed");
            super::authorize::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "medvault could not sign you out. Try again.",
            )
        }
    }
}

//! The SSO session behind the hosted pages, and the CSRF tokens of their forms.
//!
//! The SSO cookie names a session and carries an HMAC of its id under the cookie key
//! (derived from the master key), so a database reader cannot forge one. The session is
//! an ordinary one: it ends on logout, revocation, or its idle and absolute deadlines.

use axum::http::header::COOKIE;
use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use medvault_crypto::OpaqueToken;
use medvault_domain::{Session, SessionId, User, UserStatus};
use medvault_store::StoreError;

use crate::clock::now;
use crate::http::RequestContext;
use crate::{ApiError, AppState};

/// Cookie names. Under TLS they carry the `__Host-` prefix, so no sibling subdomain can
/// set them (RFC 6265bis §4.1.3.2); browsers accept that prefix only on `Secure` cookies.
const SSO_COOKIE: &str = "medvault_sso";
const CSRF_COOKIE: &str = "medvault_csrf";

fn name(state: &AppState, base: &str) -> String {
    if tls(state) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

fn tls(state: &AppState) -> bool {
    state.identity.config.issuer.starts_with("https://")
}

/// The value of cookie `name`, if the request carries it once.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v);
    let first = found.next();
    found.next().is_none().then_some(first).flatten()
}

/// `Set-Cookie` attributes: never readable by script, sent on top-level navigations from
/// a client's site (the authorization redirect), `Secure` when served over TLS.
fn attributes(state: &AppState, max_age: Option<i64>) -> String {
    let secure = if tls(state) { "; Secure" } else { "" };
    let age = max_age.map_or(String::new(), |secs| format!("; Max-Age={secs}"));
    format!("; Path=/; HttpOnly; SameSite=Lax{secure}{age}")
}

fn tag(state: &AppState, purpose: &str, value: &str) -> String {
    let message = format!("{purpose}\0{value}");
    URL_SAFE_NO_PAD.encode(state.identity.cookies.sign(message.as_bytes()))
}

fn tag_matches(state: &AppState, purpose: &str, value: &str, presented: &str) -> bool {
    let Ok(presented) = URL_SAFE_NO_PAD.decode(presented) else {
        return false;
    };
    let message = format!("{purpose}\0{value}");
    state
        .identity
        .cookies
        .verify(message.as_bytes(), &presented)
}

/// The signed-in user of a live SSO session, if the request carries one.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Session, User)>, ApiError> {
    let sso = name(state, SSO_COOKIE);
    let Some((id, mac)) = cookie(headers, &sso).and_then(|v| v.split_once('.')) else {
        return Ok(None);
    };
    if !tag_matches(state, "sso", id, mac) {
        return Ok(None);
    }
    let Ok(id) = id.parse::<SessionId>() else {
        return Ok(None);
    };
    let session = match state.store.session(id).await {
        Ok(session) => session,
        Err(StoreError::NotFound) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    if !session.is_live(now()) || state.identity.revoked.is_revoked(session.id) {
        return Ok(None);
    }
    let user = state.store.user(session.user_id).await?;
    Ok((user.status == UserStatus::Active).then_some((session, user)))
}

/// Opens the SSO session of a user who just signed in; returns it and its `Set-Cookie`.
/// The browser's previous SSO session ends: the same user's grants move to the new one
/// (so signing out still ends them all); another user's end with it.
pub async fn begin(
    state: &AppState,
    context: &RequestContext,
    headers: &HeaderMap,
    user: &User,
    amr: Vec<String>,
) -> Result<(Session, String), ApiError> {
    let previous = current(state, headers).await?;
    // Its refresh token is dropped: the SSO session lives by its cookie alone.
    let (session, _) =
        crate::identity::sessions::open_session(state, context, user, amr, SessionId::new(), None)
            .await?;
    if let Some((old, old_user)) = previous {
        if old_user.id == user.id {
            state.store.move_oauth_grants(old.id, session.id).await?;
        }
        crate::identity::sessions::revoke(state, old.id).await?;
    }
    let id = session.id.to_string();
    let value = format!("{id}.{}", tag(state, "sso", &id));
    let cookie = format!(
        "{}={value}{}",
        name(state, SSO_COOKIE),
        attributes(state, None)
    );
    Ok((session, cookie))
}

/// The `Set-Cookie` that removes the SSO cookie.
pub fn end(state: &AppState) -> String {
    format!("{}={}", name(state, SSO_COOKIE), attributes(state, Some(0)))
}

/// A form's CSRF token, bound to the browser's CSRF cookie; the cookie to set when the
/// browser has none yet.
pub fn csrf(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    let csrf = name(state, CSRF_COOKIE);
    match cookie(headers, &csrf) {
        Some(binding) if !binding.is_empty() => (tag(state, "csrf", binding), None),
        _ => {
            let binding = OpaqueToken::generate().expose().to_owned();
            let set = format!("{csrf}={binding}{}", attributes(state, None));
            (tag(state, "csrf", &binding), Some(set))
        }
    }
}

/// Whether a submitted form's CSRF token belongs to this browser's CSRF cookie.
pub fn csrf_matches(state: &AppState, headers: &HeaderMap, presented: &str) -> bool {
    cookie(headers, &name(state, CSRF_COOKIE))
        .is_some_and(|binding| tag_matches(state, "csrf", binding, presented))
}

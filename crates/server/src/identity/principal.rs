//! `Principal`: the extractor for routes that need a signed-in user.
//!
//! It accepts only `Authorization: Bearer <JWT>` (RFC 6750 §2.1), verifies the token
//! against the published keys, and refuses tokens of revoked sessions. Handlers that take
//! a `Principal` cannot run for an unauthenticated request.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use medvault_domain::{FhirId, PatientId, Role, SessionId, UserId};

use crate::identity::tokens::{
    AccessClaims, ENROLL_SCOPE, FIRST_PARTY_SCOPE, PASSWORD_CHANGE_SCOPE,
};
use crate::{ApiError, AppState};

#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
    pub roles: Vec<Role>,
    pub amr: Vec<String>,
    /// `urn:medvault:acr:mfa` when a second factor was used (see `mfa`).
    pub acr: String,
    /// When the user last authenticated at that level, in seconds.
    pub auth_time: i64,
    /// The Patient a patient user is, from the token.
    pub patient: Option<PatientId>,
    /// The Practitioner a clinician is, from the token's `fhirUser`.
    pub practitioner: Option<FhirId>,
    /// The Organization a staff user works for, from the token.
    pub organization: Option<FhirId>,
}

impl Principal {
    /// How the audit trail names this user.
    pub fn actor(&self) -> medvault_domain::Actor {
        medvault_domain::Actor::User {
            id: self.user_id,
            roles: self.roles.clone(),
        }
    }

    /// A successful event of this user's, in their session, about the current request.
    pub fn event(
        &self,
        context: &crate::http::RequestContext,
        action: medvault_domain::AuditAction,
    ) -> medvault_domain::AuditEvent {
        crate::audit::with_session(
            crate::audit::event(
                context,
                self.actor(),
                action,
                medvault_domain::Outcome::Success,
            ),
            self.session_id,
        )
    }

    /// The user of a session, as a token of it would name them.
    pub fn of(user: &medvault_domain::User, session: &medvault_domain::Session) -> Self {
        Self {
            user_id: user.id,
            session_id: session.id,
            roles: user.roles.iter().collect(),
            amr: session.amr.clone(),
            acr: crate::mfa::acr(session).to_owned(),
            auth_time: session.authenticated_at().as_secs(),
            patient: user.patient_id,
            practitioner: user.practitioner_id.clone(),
            organization: user.organization_id.clone(),
        }
    }

    /// 403 unless the principal holds `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.roles.contains(&role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (principal, scope) = authenticate(parts, state)?;
        first_party(principal, &scope)
    }
}

/// The principal of a first-party token with full scope; a restricted token says what the
/// account owes before it may do anything else.
pub(crate) fn first_party(principal: Principal, scope: &str) -> Result<Principal, ApiError> {
    match scope {
        FIRST_PARTY_SCOPE => Ok(principal),
        PASSWORD_CHANGE_SCOPE => Err(ApiError::PasswordChangeRequired),
        ENROLL_SCOPE => Err(ApiError::EnrollmentRequired),
        _ => Err(ApiError::Forbidden),
    }
}

/// A signed-in user who may hold an enrollment-only token (their role requires a second
/// factor they have not enrolled yet). Only the routes that enroll a factor take it.
#[derive(Debug, Clone)]
pub struct Enrollee(pub Principal);

impl FromRequestParts<AppState> for Enrollee {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        restricted(parts, state, ENROLL_SCOPE).map(Self)
    }
}

/// A signed-in user who may hold a password-change-only token (they signed in with a
/// breached password). Only the password-change route takes it.
#[derive(Debug, Clone)]
pub struct PasswordChanger(pub Principal);

impl FromRequestParts<AppState> for PasswordChanger {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        restricted(parts, state, PASSWORD_CHANGE_SCOPE).map(Self)
    }
}

/// A principal whose token has full scope or exactly `allowed`.
fn restricted(parts: &Parts, state: &AppState, allowed: &str) -> Result<Principal, ApiError> {
    let (principal, scope) = authenticate(parts, state)?;
    match scope.as_str() {
        FIRST_PARTY_SCOPE => Ok(principal),
        s if s == allowed => Ok(principal),
        PASSWORD_CHANGE_SCOPE => Err(ApiError::PasswordChangeRequired),
        _ => Err(ApiError::Forbidden),
    }
}

/// Verifies the bearer token and refuses revoked sessions; returns the principal and the
/// token's scope. Tokens granted to OAuth clients are refused here: they serve the FHIR
/// API and `userinfo` only, within their SMART scopes.
fn authenticate(parts: &Parts, state: &AppState) -> Result<(Principal, String), ApiError> {
    let (principal, claims) = verified(&parts.headers, state)?;
    if claims.client_id.is_some() {
        return Err(ApiError::Forbidden);
    }
    Ok((principal, claims.scope))
}

/// The principal of a live access token and the token's claims.
pub(crate) fn verified(
    headers: &axum::http::HeaderMap,
    state: &AppState,
) -> Result<(Principal, AccessClaims), ApiError> {
    let Some(header) = headers.get(AUTHORIZATION) else {
        return Err(ApiError::Unauthorized {
            code: "missing_token",
            bearer: true,
        });
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .map(|(_, token)| token.trim())
        .ok_or(ApiError::InvalidRequest {
            detail: "use `Authorization: Bearer <token>`",
        })?;
    let identity = &state.identity;
    let claims: AccessClaims = identity.keys.verifier().verify(token).map_err(|reason| {
        // The reason helps an operator; the client learns only that the token is bad.
        tracing::info!(reason = %reason, "access token refused");
        ApiError::Unauthorized {
            code: "invalid_token",
            bearer: true,
        }
    })?;
    if identity.revoked.is_revoked(claims.sid) {
        tracing::info!("access token of a revoked session refused");
        return Err(ApiError::Unauthorized {
            code: "invalid_token",
            bearer: true,
        });
    }
    let principal = Principal {
        user_id: claims.sub,
        session_id: claims.sid,
        roles: claims.roles.clone(),
        amr: claims.amr.clone(),
        acr: claims.acr.clone(),
        auth_time: claims.auth_time,
        practitioner: claims
            .fhir_user
            .as_deref()
            .and_then(|r| r.strip_prefix("Practitioner/"))
            .and_then(|id| id.parse().ok()),
        patient: claims.patient,
        organization: claims
            .organization
            .as_deref()
            .and_then(|id| id.parse().ok()),
    };
    Ok((principal, claims))
}

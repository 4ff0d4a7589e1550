//! Step-up (RFC 9470): sensitive operations need a second factor verified recently in the
//! current session. `POST /api/v1/auth/step-up` verifies one and returns a fresh token.

use medvault_domain::{AuditAction, Outcome};

use super::factors::{self, Answer, Verified};
use super::{ACR_MFA, AMR_MFA};
use crate::clock::now;
use crate::http::RequestContext;
use crate::identity::Principal;
use crate::{ApiError, AppState};

/// Refuses with `insufficient_user_authentication` unless the token shows a second factor
/// within the policy's window. Users who have no factor and whose role needs none pass:
/// the deployment chose no MFA for them, and nothing could satisfy the demand.
pub async fn require_recent_mfa(state: &AppState, principal: &Principal) -> Result<(), ApiError> {
    let policy = &state.identity.config.mfa;
    let recent =
        principal.acr == ACR_MFA && now().as_secs() - principal.auth_time <= policy.step_up_secs;
    if recent {
        return Ok(());
    }
    let needs = policy.requires(principal.roles.iter().copied())
        || super::enrolled(state.store.as_ref(), principal.user_id).await?;
    if needs {
        Err(ApiError::StepUpRequired {
            max_age_secs: policy.step_up_secs,
        })
    } else {
        Ok(())
    }
}

/// Verifies a second factor for the current session and returns a new access token that
/// shows it, with its lifetime in seconds.
pub async fn step_up(
    state: &AppState,
    context: &RequestContext,
    principal: &Principal,
    answer: Answer,
) -> Result<(String, i64), ApiError> {
    let store = state.store.as_ref();
    let user = store.user(principal.user_id).await?;
    let Some(verified) = factors::verify(state, user.id, &answer).await? else {
        super::signin::record(
            state,
            context,
            &user,
            AuditAction::MfaFailure,
            Outcome::Denied,
        )
        .await?;
        return Err(factors::invalid_code());
    };
    let mut session = store.session(principal.session_id).await?;
    for method in verified.methods().iter().chain(&[AMR_MFA]) {
        if !session.amr.iter().any(|m| m == method) {
            session.amr.push((*method).to_owned());
        }
    }
    let at = now();
    store
        .record_session_mfa(session.id, at, &session.amr)
        .await?;
    session.mfa_at = Some(at);
    let action = match verified {
        Verified::RecoveryCode => AuditAction::MfaRecoveryCodeUsed,
        Verified::Totp | Verified::Passkey { .. } => AuditAction::MfaStepUp,
    };
    super::signin::record(state, context, &user, action, Outcome::Success).await?;
    let standing = crate::identity::tokens::Standing::of(store, user.id).await?;
    Ok(state.identity.access_token(&user, &session, at, standing))
}

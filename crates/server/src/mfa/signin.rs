//! Sign-in with a second factor: a correct password yields a short-lived, single-use
//! `mfa_token` instead of tokens; `POST /api/v1/auth/mfa` with a code completes it.

use medvault_crypto::OpaqueToken;
use medvault_domain::{Actor, AuditAction, Outcome, User, UserStatus};
use medvault_store::{MfaChallengeRecord, StoreError};

use super::factors::{self, Answer};
use super::{AMR_MFA, AMR_PASSWORD, CHALLENGE_TTL_SECS, MAX_FAILURES};
use crate::audit;
use crate::clock::now;
use crate::http::RequestContext;
use crate::identity::sessions;
use crate::identity::tokens::TokenPair;
use crate::protect::ClientIp;
use crate::{ApiError, AppState};

pub(super) const INVALID_MFA_TOKEN: ApiError = ApiError::Unauthorized {
    code: "invalid_mfa_token",
    bearer: false,
};

/// Issues the `mfa_token` of a sign-in whose password was right.
pub async fn challenge(state: &AppState, user: &User) -> Result<OpaqueToken, ApiError> {
    let token = OpaqueToken::generate();
    let at = now();
    let record = MfaChallengeRecord {
        digest: token.digest(),
        user_id: user.id,
        expires_at: at.plus_secs(CHALLENGE_TTL_SECS),
    };
    state.store.insert_mfa_challenge(&record, at).await?;
    Ok(token)
}

/// Completes a sign-in. A wrong code counts against the challenge (five and it dies) and
/// like a failed password against the account and the address.
pub async fn complete(
    state: &AppState,
    context: &RequestContext,
    client: ClientIp,
    presented: OpaqueToken,
    answer: Answer,
) -> Result<TokenPair, ApiError> {
    let (user, amr) = verify(state, context, client, presented, answer).await?;
    sessions::start_session(state, context, &user, amr).await
}

/// Checks the second factor of a sign-in and spends its challenge: the user and the
/// authentication methods their session is opened with.
pub async fn verify(
    state: &AppState,
    context: &RequestContext,
    client: ClientIp,
    presented: OpaqueToken,
    answer: Answer,
) -> Result<(User, Vec<String>), ApiError> {
    let limits = &state.protect.limits;
    let address = state.protect.address_key(client);
    limits.check(None, address, now()).await?;
    let store = state.store.as_ref();
    let digest = presented.digest();
    let challenge = match store.mfa_challenge(&digest, now(), MAX_FAILURES).await {
        Ok(challenge) => challenge,
        Err(StoreError::NotFound) => {
            limits.failed(None, address, now()).await?;
            return Err(INVALID_MFA_TOKEN);
        }
        Err(err) => return Err(err.into()),
    };
    let user = store.user(challenge.user_id).await?;
    limits
        .check(Some(user.email.as_str()), address, now())
        .await?;
    if user.status != UserStatus::Active {
        return Err(INVALID_MFA_TOKEN);
    }
    let Some(verified) = factors::verify(state, user.id, &answer).await? else {
        store.fail_mfa_challenge(&digest).await?;
        record(
            state,
            context,
            &user,
            AuditAction::MfaFailure,
            Outcome::Denied,
        )
        .await?;
        limits
            .failed(Some(user.email.as_str()), address, now())
            .await?;
        return Err(factors::invalid_code());
    };
    match store.spend_mfa_challenge(&digest, now()).await {
        Ok(()) => {}
        // Used twice at once: only the first completes.
        Err(StoreError::NotFound) => return Err(INVALID_MFA_TOKEN),
        Err(err) => return Err(err.into()),
    }
    record(state, context, &user, verified.action(), Outcome::Success).await?;
    let mut amr = vec![AMR_PASSWORD.to_owned()];
    amr.extend(verified.methods().iter().map(|m| (*m).to_owned()));
    amr.push(AMR_MFA.to_owned());
    Ok((user, amr))
}

pub async fn record(
    state: &AppState,
    context: &RequestContext,
    user: &User,
    action: AuditAction,
    outcome: Outcome,
) -> Result<(), ApiError> {
    let actor = Actor::User {
        id: user.id,
        roles: user.roles.iter().collect(),
    };
    let event = audit::about(
        audit::event(context, actor, action, outcome),
        "User",
        user.id,
    );
    audit::record(&state.audit, event).await
}

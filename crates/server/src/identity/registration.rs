//! Self-service sign-up of patient accounts (`--self-registration`).

use medvault_crypto::password::Password;
use medvault_domain::{Actor, AuditAction, Outcome, User};

use crate::audit;
use crate::clock::now;
use crate::http::RequestContext;
use crate::identity::sessions::{record_security_events, ChallengeAnswer};
use crate::protect::{self, ClientIp};
use crate::{ApiError, AppState};

/// Self-service sign-up of a patient account (when enabled). Guarded like sign-in: the
/// address allowance and, under pressure, a proof-of-work challenge come first; a taken
/// email counts against the address like a failed sign-in, so probing for accounts is
/// throttled like guessing passwords. New passwords pass the whole password policy.
pub async fn register(
    state: &AppState,
    context: &RequestContext,
    client: ClientIp,
    email: &str,
    password: Password,
    answer: Option<ChallengeAnswer>,
) -> Result<User, ApiError> {
    if !state.identity.config.self_registration {
        return Err(ApiError::NotFound);
    }
    let limits = &state.protect.limits;
    let address = state.protect.address_key(client);
    limits.check(None, address, now()).await?;
    protect::require_challenge(state, None, address, answer).await?;
    let identity = &state.identity;
    let new = crate::identity::users::NewUser {
        email: email.to_owned(),
        display_name: None,
        roles: vec!["patient".to_owned()],
        password: Some(password),
        patient_id: None,
        practitioner_id: None,
        organization_id: None,
    };
    match crate::identity::users::create(
        state.store.as_ref(),
        &identity.hashing,
        &identity.policy,
        new,
    )
    .await
    {
        Ok(user) => {
            let event = audit::event(
                context,
                Actor::Anonymous,
                AuditAction::UserCreate,
                Outcome::Success,
            );
            audit::record(&state.audit, audit::about(event, "User", user.id)).await?;
            Ok(user)
        }
        Err(crate::identity::users::UserError::DuplicateEmail) => {
            let effect = limits.failed(None, address, now()).await?;
            record_security_events(state, context, &None, effect).await?;
            Err(ApiError::Conflict {
                detail: "an account with this email already exists; sign in instead".into(),
            })
        }
        Err(err) => Err(err.into()),
    }
}

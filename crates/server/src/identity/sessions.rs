//! Sign-in, refresh-token rotation and sign-out.

use std::sync::Arc;

use medvault_crypto::password::{Password, Verification};
use medvault_crypto::OpaqueToken;
use medvault_domain::{
    Actor, AuditAction, Email, Outcome, Session, SessionId, User, UserId, UserStatus,
};
use medvault_store::{RefreshTokenRecord, Rotation, StoreError};

use crate::audit;
use crate::clock::now;
use crate::http::RequestContext;
use crate::identity::password_policy::MAX_CHARS;
use crate::identity::principal::Principal;
use crate::identity::tokens::{Standing, TokenPair};
use crate::protect::limits::FailureEffect;
use crate::protect::{self, ClientIp};
use crate::{ApiError, AppState};

const INVALID_CREDENTIALS: ApiError = ApiError::Unauthorized {
    code: "invalid_credentials",
    bearer: false,
};
const INVALID_GRANT: ApiError = ApiError::Unauthorized {
    code: "invalid_grant",
    bearer: false,
};

fn actor(user: &User) -> Actor {
    Actor::User {
        id: user.id,
        roles: user.roles.iter().collect(),
    }
}

/// A solved proof-of-work challenge sent with a sign-in.
#[derive(Debug, Clone)]
pub struct ChallengeAnswer {
    pub token: String,
    pub solution: String,
}

/// What a correct password leads to: tokens, or a second factor to present first.
#[derive(Debug)]
pub enum SignIn {
    Tokens(TokenPair),
    SecondFactor {
        mfa_token: OpaqueToken,
        methods: crate::mfa::Methods,
    },
}

pub async fn login(
    state: &AppState,
    context: &RequestContext,
    client: ClientIp,
    email: &str,
    password: Password,
    answer: Option<ChallengeAnswer>,
) -> Result<SignIn, ApiError> {
    Ok(
        match check_password(state, context, client, email, password, answer).await? {
            PasswordChecked::SignedIn(user) => {
                let amr = vec![crate::mfa::AMR_PASSWORD.into()];
                SignIn::Tokens(start_session(state, context, &user, amr).await?)
            }
            PasswordChecked::SecondFactor { mfa_token, methods } => {
                SignIn::SecondFactor { mfa_token, methods }
            }
        },
    )
}

/// What a correct password leads to, before any session is opened.
#[derive(Debug)]
pub enum PasswordChecked {
    SignedIn(User),
    SecondFactor {
        mfa_token: OpaqueToken,
        methods: crate::mfa::Methods,
    },
}

/// The first step of every sign-in (the JSON API and the hosted login page): throttles,
/// the bot challenge, the password, breach and rehash bookkeeping, and whether a second
/// factor must follow. Unknown, disabled and password-less accounts are refused exactly
/// like a wrong password, after the same Argon2 work.
pub async fn check_password(
    state: &AppState,
    context: &RequestContext,
    client: ClientIp,
    email: &str,
    password: Password,
    answer: Option<ChallengeAnswer>,
) -> Result<PasswordChecked, ApiError> {
    let email: Email = email.parse().map_err(|_| ApiError::Unprocessable {
        detail: "email is not a valid address".into(),
    })?;
    let length = password.expose().chars().count();
    if length == 0 || length > MAX_CHARS {
        return Err(ApiError::Unprocessable {
            detail: format!("password must have 1 to {MAX_CHARS} characters"),
        });
    }
    // Before any hashing: a refused attempt costs a lookup, not an Argon2 hash.
    let limits = &state.protect.limits;
    let address = state.protect.address_key(client);
    limits.check(Some(email.as_str()), address, now()).await?;
    protect::require_challenge(state, Some(email.as_str()), address, answer).await?;
    let store = state.store.as_ref();
    let user = match store.user_by_email(&email).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(err) => return Err(err.into()),
    };
    let stored = match &user {
        Some(user) if user.status == UserStatus::Active => store.password_hash(user.id).await?,
        _ => None,
    };
    let password = Arc::new(password);
    let verdict = state
        .identity
        .hashing
        .verify(password.clone(), stored)
        .await?;
    if verdict == Verification::Mismatch {
        let mut event = audit::event(
            context,
            Actor::Anonymous,
            AuditAction::LoginFailure,
            Outcome::Denied,
        );
        if let Some(user) = &user {
            // Which account was tried matters for lockout and forensics; the client never learns it.
            event = audit::about(event, "User", user.id);
        }
        audit::record(&state.audit, event).await?;
        let effect = limits.failed(Some(email.as_str()), address, now()).await?;
        record_security_events(state, context, &user, effect).await?;
        let suspicion = protect::stuffing_failed(state, email.as_str(), client.limit_key()).await?;
        if suspicion.spraying || suspicion.targeted {
            let mut event = audit::event(
                context,
                Actor::Anonymous,
                AuditAction::SecurityStuffingSuspected,
                Outcome::Denied,
            );
            if let (true, Some(user)) = (suspicion.targeted, &user) {
                event = audit::about(event, "User", user.id);
            }
            protect::security_event(state, event).await?;
        }
        return Err(INVALID_CREDENTIALS);
    }
    limits.clear(email.as_str()).await?;
    let user = user.ok_or_else(|| ApiError::internal("a password matched without an account"))?;
    if state.identity.policy.is_breached_anywhere(&password).await {
        // The account works, but its password is public knowledge: say so, loudly.
        let event = audit::event(
            context,
            actor(&user),
            AuditAction::SecurityBreachedPassword,
            Outcome::Success,
        );
        protect::security_event(state, audit::about(event, "User", user.id)).await?;
        // Until it is changed, the account's tokens can only change it.
        store.set_password_change_required(user.id, true).await?;
    }
    if verdict == Verification::MatchNeedsRehash {
        let rehashed = state.identity.hashing.hash(password).await?;
        store.set_password_hash(user.id, &rehashed, now()).await?;
        tracing::info!(user_id = %user.id, "password rehashed with the current parameters");
    }
    let methods = crate::mfa::Methods::of(store, user.id).await?;
    if methods.any() {
        let mfa_token = crate::mfa::signin::challenge(state, &user).await?;
        return Ok(PasswordChecked::SecondFactor { mfa_token, methods });
    }
    Ok(PasswordChecked::SignedIn(user))
}

/// A lockout or a blocked address is a security event, recorded in the audit trail.
pub(crate) async fn record_security_events(
    state: &AppState,
    context: &RequestContext,
    user: &Option<User>,
    effect: FailureEffect,
) -> Result<(), ApiError> {
    if effect.account_locked {
        let mut event = audit::event(
            context,
            Actor::Anonymous,
            AuditAction::SecurityLockout,
            Outcome::Denied,
        );
        if let Some(user) = user {
            event = audit::about(event, "User", user.id);
        }
        protect::security_event(state, event).await?;
    }
    if effect.address_blocked {
        let event = audit::event(
            context,
            Actor::Anonymous,
            AuditAction::SecurityIpBlocked,
            Outcome::Denied,
        );
        protect::security_event(state, event).await?;
    }
    Ok(())
}

/// Opens a session for a signed-in user and hands out its first token pair; a second
/// factor in `amr` counts as verified now.
pub(crate) async fn start_session(
    state: &AppState,
    context: &RequestContext,
    user: &User,
    amr: Vec<String>,
) -> Result<TokenPair, ApiError> {
    let (session, refresh_token) =
        open_session(state, context, user, amr, SessionId::new(), None).await?;
    let standing = Standing::of(state.store.as_ref(), user.id).await?;
    let (access_token, expires_in) =
        state
            .identity
            .access_token(user, &session, session.created_at, standing);
    Ok(TokenPair {
        access_token,
        expires_in,
        refresh_token,
    })
}

/// Opens session `id` (audited as a sign-in) and returns it with its first refresh token;
/// with `grant`, the session is that grant to an OAuth client, recorded with it.
pub(crate) async fn open_session(
    state: &AppState,
    context: &RequestContext,
    user: &User,
    amr: Vec<String>,
    id: SessionId,
    grant: Option<&medvault_store::OAuthGrant>,
) -> Result<(Session, OpaqueToken), ApiError> {
    let config = &state.identity.config;
    let at = now();
    let mfa_at = amr.iter().any(|m| m == crate::mfa::AMR_MFA).then_some(at);
    let session = Session {
        id,
        user_id: user.id,
        created_at: at,
        last_seen_at: at,
        idle_expires_at: at.plus_secs(config.session_idle_secs.min(config.session_absolute_secs)),
        absolute_expires_at: at.plus_secs(config.session_absolute_secs),
        ip: context.ip.clone(),
        user_agent: context.user_agent.clone(),
        amr,
        revoked_at: None,
        mfa_at,
    };
    let refresh_token = OpaqueToken::generate();
    let record = RefreshTokenRecord {
        digest: refresh_token.digest(),
        session_id: session.id,
        issued_at: at,
        expires_at: session.idle_expires_at,
    };
    match grant {
        Some(grant) => {
            state
                .store
                .insert_grant_session(grant, &session, &record)
                .await?
        }
        None => state.store.insert_session(&session, &record).await?,
    }
    let event = audit::event(
        context,
        actor(user),
        AuditAction::LoginSuccess,
        Outcome::Success,
    );
    audit::record(&state.audit, audit::with_session(event, session.id)).await?;
    Ok((session, refresh_token))
}

/// Spends a refresh token for a new pair. Presenting a spent token means a copy exists:
/// the whole session (the token family) is revoked (RFC 9700 §4.14). There is no grace
/// period for concurrent refreshes: a client must serialise its refreshes.
pub async fn refresh(
    state: &AppState,
    context: &RequestContext,
    client: ClientIp,
    presented: OpaqueToken,
) -> Result<TokenPair, ApiError> {
    // A grant to an OAuth client refreshes at the token endpoint, within its scopes only:
    // its token here is a leak, and ends the grant.
    if let Some((session, _)) = state
        .store
        .refresh_token_session(&presented.digest(), now())
        .await?
    {
        if let Some(grant) = state.store.oauth_grant(session).await? {
            misused(state, context, grant.session_id).await?;
            return Err(INVALID_GRANT);
        }
    }
    let (session, user, next) = rotate(state, context, client, presented).await?;
    let standing = Standing::of(state.store.as_ref(), user.id).await?;
    let (access_token, expires_in) =
        state
            .identity
            .access_token(&user, &session, session.last_seen_at, standing);
    Ok(TokenPair {
        access_token,
        expires_in,
        refresh_token: next,
    })
}

/// A refresh token presented where it does not belong (another client, another API):
/// its family ends, recorded as a security event.
pub(crate) async fn misused(
    state: &AppState,
    context: &RequestContext,
    session_id: SessionId,
) -> Result<(), ApiError> {
    revoke(state, session_id).await?;
    let event = audit::event(
        context,
        Actor::Anonymous,
        AuditAction::TokenReuseDetected,
        Outcome::Denied,
    );
    protect::security_event(state, audit::with_session(event, session_id)).await
}

/// Spends a refresh token (see [`refresh`]) and audits the refresh: the live session, its
/// active user, and the next refresh token of the family.
pub(crate) async fn rotate(
    state: &AppState,
    context: &RequestContext,
    client: ClientIp,
    presented: OpaqueToken,
) -> Result<(Session, User, OpaqueToken), ApiError> {
    // Guessing refresh tokens spends the same per-address allowance as guessing passwords.
    let address = state.protect.address_key(client);
    let limits = &state.protect.limits;
    limits.check(None, address, now()).await?;
    let invalid_grant = || async move {
        let effect = limits.failed(None, address, now()).await?;
        record_security_events(state, context, &None, effect).await?;
        Err::<(Session, User, OpaqueToken), ApiError>(INVALID_GRANT)
    };
    let store = state.store.as_ref();
    let at = now();
    let next = OpaqueToken::generate();
    let idle_deadline = at.plus_secs(state.identity.config.session_idle_secs);
    let rotation = match store
        .rotate_refresh_token(&presented.digest(), &next.digest(), at, idle_deadline)
        .await
    {
        Ok(rotation) => rotation,
        Err(StoreError::NotFound) => return invalid_grant().await,
        Err(err) => return Err(err.into()),
    };
    let session = match rotation {
        Rotation::Rotated(session) => session,
        Rotation::Dead(_) => return invalid_grant().await,
        Rotation::Reused(session_id) => {
            let session = store.session(session_id).await?;
            revoke(state, session_id).await?;
            let user = store.user(session.user_id).await?;
            let event = audit::event(
                context,
                actor(&user),
                AuditAction::TokenReuseDetected,
                Outcome::Denied,
            );
            protect::security_event(state, audit::with_session(event, session_id)).await?;
            return Err(INVALID_GRANT);
        }
    };
    let user = store.user(session.user_id).await?;
    if user.status != UserStatus::Active {
        revoke(state, session.id).await?;
        return Err(INVALID_GRANT);
    }
    let event = audit::event(
        context,
        actor(&user),
        AuditAction::TokenRefresh,
        Outcome::Success,
    );
    audit::record(&state.audit, audit::with_session(event, session.id)).await?;
    Ok((session, user, next))
}

/// Ends one of the principal's sessions: its access tokens fail from the next request on,
/// its refresh tokens are dead. [`ApiError::NotFound`] for someone else's session.
pub async fn end_session(
    state: &AppState,
    context: &RequestContext,
    principal: &Principal,
    session_id: SessionId,
) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    let session = store.session(session_id).await?;
    if session.user_id != principal.user_id {
        return Err(ApiError::NotFound);
    }
    revoke(state, session_id).await?;
    let actor = Actor::User {
        id: principal.user_id,
        roles: principal.roles.clone(),
    };
    let event = audit::event(context, actor, AuditAction::SessionEnd, Outcome::Success);
    audit::record(&state.audit, audit::with_session(event, session_id)).await
}

/// Revokes in the store (the source of truth) and in this instance's list at once.
/// An SSO session takes the grants made in it along. A session that was never written
/// (a code replayed before its exchange finished) is revoked already.
pub async fn revoke(state: &AppState, session_id: SessionId) -> Result<(), ApiError> {
    let at = now();
    match state.store.revoke_session(session_id, at).await {
        Ok(_) | Err(StoreError::NotFound) => {}
        Err(err) => return Err(err.into()),
    }
    state.identity.revoked.insert(session_id, at);
    for grant in state.store.oauth_grants_within(session_id).await? {
        state.store.revoke_session(grant, at).await?;
        state.identity.revoked.insert(grant, at);
    }
    Ok(())
}

/// Ends every session of a user, e.g. when the account is disabled.
pub async fn revoke_all_of(state: &AppState, user: UserId) -> Result<(), ApiError> {
    let ended = state.store.revoke_sessions_of(user, None, now()).await?;
    forget(state, ended);
    Ok(())
}

/// Adds sessions the store has already revoked to this instance's list.
pub fn forget(state: &AppState, ended: Vec<SessionId>) {
    let at = now();
    for session in ended {
        state.identity.revoked.insert(session, at);
    }
}

/// The signed-in user changes their own password. The current password is checked (and a
/// wrong one counts like a failed sign-in); the new one must pass the policy; every other
/// session of the user ends, since a password change often answers a suspected compromise.
pub async fn change_password(
    state: &AppState,
    context: &RequestContext,
    client: ClientIp,
    principal: &Principal,
    current: Password,
    new: Password,
) -> Result<(), ApiError> {
    let store = state.store.as_ref();
    let user = store.user(principal.user_id).await?;
    let limits = &state.protect.limits;
    let address = state.protect.address_key(client);
    limits
        .check(Some(user.email.as_str()), address, now())
        .await?;
    let stored = store.password_hash(user.id).await?;
    let verdict = state
        .identity
        .hashing
        .verify(Arc::new(current), stored)
        .await?;
    if verdict == Verification::Mismatch {
        let effect = limits
            .failed(Some(user.email.as_str()), address, now())
            .await?;
        record_security_events(state, context, &Some(user), effect).await?;
        return Err(ApiError::Unauthorized {
            code: "invalid_credentials",
            bearer: false,
        });
    }
    let identity = &state.identity;
    crate::identity::users::set_password(store, &identity.hashing, &identity.policy, user.id, new)
        .await?;
    let others = store
        .revoke_sessions_of(user.id, Some(principal.session_id), now())
        .await?;
    forget(state, others);
    let actor = Actor::User {
        id: user.id,
        roles: principal.roles.clone(),
    };
    let event = audit::event(
        context,
        actor,
        AuditAction::UserPasswordChange,
        Outcome::Success,
    );
    audit::record(&state.audit, audit::about(event, "User", user.id)).await
}

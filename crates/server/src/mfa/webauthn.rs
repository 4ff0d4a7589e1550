//! Passkeys (WebAuthn) through webauthn-rs: registration, a passkey as the second factor of
//! a password sign-in, passwordless sign-in with a discoverable credential, and step-up.
//! User verification (the biometric or PIN) is required throughout. The signature counter
//! must grow (a cloned authenticator shows an old one) and is compare-and-swapped, so two
//! uses of one value cannot both succeed. Ceremony state lives in the store: any instance
//! of a fleet finishes what another started, once.

use medvault_crypto::OpaqueToken;
use medvault_domain::{SessionId, User, UserId};
use medvault_store::{Ceremony, CeremonyKind, StoreError, WebAuthnCredential};
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use super::factors::Verified;
use crate::clock::now;
use crate::{ApiError, AppState};

/// A ceremony must finish within this many seconds.
const CEREMONY_TTL_SECS: i64 = 300;
const MAX_NICKNAME: usize = 64;

/// The relying party: `None` when the public URL cannot be one (an IP address).
#[derive(Debug)]
pub struct Passkeys(Option<Webauthn>);

impl Passkeys {
    /// The relying party of `public_url`: its host is the RP id and it is the origin.
    pub fn new(public_url: &str) -> Self {
        let built = Url::parse(public_url).ok().and_then(|origin| {
            let rp_id = origin.host_str()?.to_owned();
            WebauthnBuilder::new(&rp_id, &origin)
                .ok()?
                .rp_name("medvault")
                .build()
                .ok()
        });
        if built.is_none() {
            tracing::warn!(
                public_url,
                "passkeys are off: the public URL must name a host (not an IP address)"
            );
        }
        Self(built)
    }

    fn rp(&self) -> Result<&Webauthn, ApiError> {
        self.0.as_ref().ok_or_else(|| ApiError::Conflict {
            detail: "passkeys need --public-url to name a host, not an IP address".into(),
        })
    }
}

/// How a ceremony answers the client: its options, and a token naming it when the
/// client has nothing else to name it by.
pub fn started(options: impl serde::Serialize, ceremony: Option<&OpaqueToken>) -> Value {
    let mut body = serde_json::to_value(options).unwrap_or(Value::Null);
    if let (Some(token), Value::Object(map)) = (ceremony, &mut body) {
        map.insert("ceremony".into(), Value::String(token.expose().to_owned()));
    }
    body
}

async fn store_ceremony(
    state: &AppState,
    digest: [u8; 32],
    kind: CeremonyKind,
    user: Option<UserId>,
    session: Option<SessionId>,
    challenge: &impl serde::Serialize,
) -> Result<(), ApiError> {
    let ceremony = Ceremony {
        digest,
        kind,
        user_id: user,
        session_id: session,
        state: serde_json::to_string(challenge).map_err(ApiError::internal)?,
        expires_at: now().plus_secs(CEREMONY_TTL_SECS),
    };
    Ok(state.store.put_ceremony(&ceremony).await?)
}

fn invalid_ceremony() -> ApiError {
    ApiError::Unprocessable {
        detail: "unknown, used or expired ceremony, or one another session started".into(),
    }
}

fn credential_key(raw: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn passkey_of(stored: &WebAuthnCredential) -> Result<Passkey, ApiError> {
    serde_json::from_str(&stored.passkey).map_err(ApiError::internal)
}

/// The user's passkeys, as the library takes them.
async fn passkeys_of(state: &AppState, user: UserId) -> Result<Vec<Passkey>, ApiError> {
    state
        .store
        .webauthn_credentials(user)
        .await?
        .iter()
        .map(passkey_of)
        .collect()
}

/// Starts registering a passkey for `user`, in `session`.
pub async fn start_registration(
    state: &AppState,
    user: &User,
    session: SessionId,
) -> Result<Value, ApiError> {
    let rp = state.identity.passkeys.rp()?;
    let exclude = passkeys_of(state, user.id)
        .await?
        .iter()
        .map(|p| p.cred_id().clone())
        .collect();
    let name = user.email.as_str();
    let display = user.display_name.as_ref().map_or(name, |n| n.as_str());
    let (options, registration) = rp
        .start_passkey_registration(user.id.as_uuid(), name, display, Some(exclude))
        .map_err(ApiError::internal)?;
    let token = OpaqueToken::generate();
    store_ceremony(
        state,
        token.digest(),
        CeremonyKind::Register,
        Some(user.id),
        Some(session),
        &registration,
    )
    .await?;
    let mut body = started(options, Some(&token));
    // Ask for a discoverable credential, so the passkey also signs in without a password;
    // authenticators that cannot still register (the library never requires it).
    if let Some(selection) = body.pointer_mut("/publicKey/authenticatorSelection") {
        selection["residentKey"] = Value::String("preferred".into());
    }
    Ok(body)
}

/// Finishes a registration: the ceremony must be this session's, the response must verify
/// (user verified, right origin and challenge), and the credential must be new.
pub async fn finish_registration(
    state: &AppState,
    user: UserId,
    session: SessionId,
    ceremony: &OpaqueToken,
    nickname: Option<String>,
    credential: &RegisterPublicKeyCredential,
) -> Result<WebAuthnCredential, ApiError> {
    let rp = state.identity.passkeys.rp()?;
    let nickname = nickname.unwrap_or_else(|| "passkey".into());
    let nickname = nickname.trim();
    // Shown back in lists: no control or bidirectional-override characters.
    let unsafe_char = |c: char| {
        c.is_control()
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    if nickname.is_empty()
        || nickname.chars().count() > MAX_NICKNAME
        || nickname.chars().any(unsafe_char)
    {
        return Err(ApiError::Unprocessable {
            detail: format!("nickname: 1 to {MAX_NICKNAME} printable characters"),
        });
    }
    let taken = state
        .store
        .take_ceremony(&ceremony.digest(), CeremonyKind::Register, now())
        .await;
    let ceremony = match taken {
        Ok(c) if c.user_id == Some(user) && c.session_id == Some(session) => c,
        Ok(_) | Err(StoreError::NotFound) => return Err(invalid_ceremony()),
        Err(err) => return Err(err.into()),
    };
    let registration: PasskeyRegistration =
        serde_json::from_str(&ceremony.state).map_err(ApiError::internal)?;
    let passkey = rp
        .finish_passkey_registration(credential, &registration)
        .map_err(|err| ApiError::Unprocessable {
            detail: format!("the authenticator's response does not verify: {err}"),
        })?;
    let stored = WebAuthnCredential {
        id: credential_key(passkey.cred_id()),
        user_id: user,
        nickname: nickname.to_owned(),
        passkey: serde_json::to_string(&passkey).map_err(ApiError::internal)?,
        created_at: now(),
        last_used_at: None,
    };
    match state.store.insert_webauthn_credential(&stored).await {
        Ok(()) => Ok(stored),
        Err(StoreError::Conflict) => Err(ApiError::Conflict {
            detail: "this passkey is registered already".into(),
        }),
        Err(err) => Err(err.into()),
    }
}

/// Starts an assertion by `user`'s passkeys, keyed by `digest` (an `mfa_token`'s, or a
/// new token's), for `kind`.
pub async fn start_assertion(
    state: &AppState,
    user: UserId,
    session: Option<SessionId>,
    digest: [u8; 32],
    kind: CeremonyKind,
) -> Result<impl serde::Serialize, ApiError> {
    let rp = state.identity.passkeys.rp()?;
    let passkeys = passkeys_of(state, user).await?;
    if passkeys.is_empty() {
        return Err(ApiError::Conflict {
            detail: "no passkey is registered; use another factor".into(),
        });
    }
    let (options, authentication) = rp
        .start_passkey_authentication(&passkeys)
        .map_err(ApiError::internal)?;
    store_ceremony(state, digest, kind, Some(user), session, &authentication).await?;
    Ok(options)
}

/// A passkey assertion presented as a factor.
pub struct Assertion {
    pub ceremony: [u8; 32],
    pub kind: CeremonyKind,
    /// The session the ceremony must belong to (step-up), if any.
    pub session: Option<SessionId>,
    pub credential: Box<PublicKeyCredential>,
}

/// Checks an assertion by `user`. `None` when it fails for any reason: unknown or spent
/// ceremony, another user's or session's, a credential not theirs, no user verification,
/// wrong origin or challenge, a bad signature, or a counter that did not grow.
pub async fn verify(
    state: &AppState,
    user: UserId,
    assertion: &Assertion,
) -> Result<Option<Verified>, ApiError> {
    let rp = state.identity.passkeys.rp()?;
    let taken = state
        .store
        .take_ceremony(&assertion.ceremony, assertion.kind, now())
        .await;
    let ceremony = match taken {
        Ok(c) if c.user_id == Some(user) && c.session_id == assertion.session => c,
        Ok(_) | Err(StoreError::NotFound) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let authentication: PasskeyAuthentication =
        serde_json::from_str(&ceremony.state).map_err(ApiError::internal)?;
    let Some(stored) = stored_credential(state, &assertion.credential, user).await? else {
        return Ok(None);
    };
    match rp.finish_passkey_authentication(&assertion.credential, &authentication) {
        Ok(result) => record_use(state, &stored, &result).await,
        Err(err) => {
            tracing::info!(reason = %err, "a passkey assertion was refused");
            Ok(None)
        }
    }
}

/// Starts a passwordless sign-in: any discoverable credential may answer.
pub async fn start_passwordless(state: &AppState) -> Result<Value, ApiError> {
    let rp = state.identity.passkeys.rp()?;
    let (options, authentication) = rp
        .start_discoverable_authentication()
        .map_err(ApiError::internal)?;
    let token = OpaqueToken::generate();
    store_ceremony(
        state,
        token.digest(),
        CeremonyKind::Passwordless,
        None,
        None,
        &authentication,
    )
    .await?;
    Ok(started(options, Some(&token)))
}

/// How a passwordless sign-in ended.
pub enum Passwordless {
    Verified(User, Verified),
    /// Refused; with the account the credential named, when it named a real one.
    Failed(Option<User>),
}

/// Finishes a passwordless sign-in: the user is the one the credential names (its user
/// handle) and must own it.
pub async fn finish_passwordless(
    state: &AppState,
    ceremony: &OpaqueToken,
    credential: &PublicKeyCredential,
) -> Result<Passwordless, ApiError> {
    let rp = state.identity.passkeys.rp()?;
    let taken = state
        .store
        .take_ceremony(&ceremony.digest(), CeremonyKind::Passwordless, now())
        .await;
    let ceremony = match taken {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Ok(Passwordless::Failed(None)),
        Err(err) => return Err(err.into()),
    };
    let authentication: DiscoverableAuthentication =
        serde_json::from_str(&ceremony.state).map_err(ApiError::internal)?;
    let Ok((handle, _)) = rp.identify_discoverable_authentication(credential) else {
        return Ok(Passwordless::Failed(None));
    };
    let user = match state.store.user(UserId::from(handle)).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => return Ok(Passwordless::Failed(None)),
        Err(err) => return Err(err.into()),
    };
    let Some(stored) = stored_credential(state, credential, user.id).await? else {
        return Ok(Passwordless::Failed(Some(user)));
    };
    let passkey = passkey_of(&stored)?;
    let verified =
        match rp.finish_discoverable_authentication_v2(credential, authentication, &passkey) {
            Ok(result) => record_use(state, &stored, &result).await?,
            Err(err) => {
                tracing::info!(reason = %err, "a passwordless passkey sign-in was refused");
                None
            }
        };
    Ok(match verified {
        Some(verified) => Passwordless::Verified(user, verified),
        None => Passwordless::Failed(Some(user)),
    })
}

/// The stored credential the assertion names, if it is `user`'s.
async fn stored_credential(
    state: &AppState,
    credential: &PublicKeyCredential,
    user: UserId,
) -> Result<Option<WebAuthnCredential>, ApiError> {
    let id = credential_key(credential.get_credential_id());
    match state.store.webauthn_credential(&id).await {
        Ok(stored) if stored.user_id == user => Ok(Some(stored)),
        Ok(_) | Err(StoreError::NotFound) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The signature counter of a stored credential, from the library's serialised form.
fn stored_counter(passkey: &str) -> Result<u32, ApiError> {
    let value: Value = serde_json::from_str(passkey).map_err(ApiError::internal)?;
    value
        .pointer("/cred/counter")
        .and_then(Value::as_u64)
        .and_then(|c| u32::try_from(c).ok())
        .ok_or_else(|| ApiError::internal("a stored passkey has no counter"))
}

/// Stores the new counter, compare-and-swap: a concurrent use of the same value loses.
async fn record_use(
    state: &AppState,
    stored: &WebAuthnCredential,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<Option<Verified>, ApiError> {
    if !result.user_verified() {
        return Ok(None);
    }
    // The library compares the counter with the one saved when the ceremony began; the
    // credential may have been used since (a clone finishing an old ceremony), so compare
    // with the stored one too. A counter that does not grow is a clone, or a replay.
    let current = stored_counter(&stored.passkey)?;
    if (result.counter() > 0 || current > 0) && result.counter() <= current {
        tracing::warn!("a passkey's signature counter did not grow: a cloned authenticator?");
        return Ok(None);
    }
    let mut passkey = passkey_of(stored)?;
    passkey.update_credential(result);
    let updated = serde_json::to_string(&passkey).map_err(ApiError::internal)?;
    match state
        .store
        .use_webauthn_credential(&stored.id, &stored.passkey, &updated, now())
        .await
    {
        Ok(()) => Ok(Some(Verified::Passkey {
            synced: result.backup_eligible(),
        })),
        Err(StoreError::Conflict) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

// Ceremony bodies and credentials: never in Debug output.
crate::redact::redacted_debug!(Assertion, Passwordless);

//! `WebAuthnStore`: registered passkeys (WebAuthn credentials) and the ceremonies in
//! flight, whose state lives server-side so any instance of a fleet can finish them.

use medvault_domain::{SessionId, UnixMillis, UserId};

use crate::StoreError;

/// A registered passkey. `passkey` is the relying-party library's serialised credential:
/// the public key, its algorithm and the signature counter. Public, but its integrity
/// matters: updates compare and swap it, so two uses of one counter value cannot both win.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnCredential {
    /// The credential id, base64url.
    pub id: String,
    pub user_id: UserId,
    pub nickname: String,
    pub passkey: String,
    pub created_at: UnixMillis,
    pub last_used_at: Option<UnixMillis>,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    Register,
    /// The second factor of a password sign-in, keyed by its `mfa_token`.
    SignIn,
    /// Passwordless sign-in with a discoverable credential: no user yet.
    Passwordless,
    StepUp,
}

impl CeremonyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::SignIn => "sign_in",
            Self::Passwordless => "passwordless",
            Self::StepUp => "step_up",
        }
    }
}

/// A ceremony in flight, found by its token's digest.
#[derive(Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub digest: [u8; 32],
    pub kind: CeremonyKind,
    pub user_id: Option<UserId>,
    /// The session that started it, when one did.
    pub session_id: Option<SessionId>,
    /// The library's serialised challenge state.
    pub state: String,
    pub expires_at: UnixMillis,
}

impl std::fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony")
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
pub trait WebAuthnStore {
    /// [`StoreError::Conflict`] when the credential id is registered already (to anyone).
    async fn insert_webauthn_credential(
        &self,
        credential: &WebAuthnCredential,
    ) -> Result<(), StoreError>;

    /// The user's credentials, oldest first.
    async fn webauthn_credentials(
        &self,
        user: UserId,
    ) -> Result<Vec<WebAuthnCredential>, StoreError>;

    /// [`StoreError::NotFound`] when no such credential is registered.
    async fn webauthn_credential(&self, id: &str) -> Result<WebAuthnCredential, StoreError>;

    /// Replaces the serialised credential after a use, only if it is still `expected`;
    /// otherwise [`StoreError::Conflict`].
    async fn use_webauthn_credential(
        &self,
        id: &str,
        expected: &str,
        updated: &str,
        at: UnixMillis,
    ) -> Result<(), StoreError>;

    /// [`StoreError::NotFound`] when the user has no such credential.
    async fn delete_webauthn_credential(&self, user: UserId, id: &str) -> Result<(), StoreError>;

    /// Removes every credential of the user (an administrator's reset); returns how many.
    async fn delete_webauthn_credentials(&self, user: UserId) -> Result<u64, StoreError>;

    /// Stores a ceremony, pruning expired ones. One with the same digest, kind and user
    /// (a sign-in restarting its passkey step) is replaced and may be finished again;
    /// [`StoreError::Conflict`] when the digest belongs to another kind or user.
    async fn put_ceremony(&self, ceremony: &Ceremony) -> Result<(), StoreError>;

    /// Spends the ceremony: once, only of `kind`, only before it expires.
    /// [`StoreError::NotFound`] otherwise.
    async fn take_ceremony(
        &self,
        digest: &[u8; 32],
        kind: CeremonyKind,
        now: UnixMillis,
    ) -> Result<Ceremony, StoreError>;
}

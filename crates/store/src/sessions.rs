use medvault_domain::{Session, SessionId, UnixMillis, UserId};

use crate::StoreError;

/// A refresh token as stored: only its SHA-256 digest.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub digest: [u8; 32],
    pub session_id: SessionId,
    pub issued_at: UnixMillis,
    pub expires_at: UnixMillis,
}

impl std::fmt::Debug for RefreshTokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshTokenRecord")
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now spent, `next` replaces it, and the session was touched.
    Rotated(Session),
    /// The token was already spent: someone holds a copy (RFC 9700 §4.14). Nothing changed;
    /// the caller revokes the session.
    Reused(SessionId),
    /// The token, or its session, expired or was revoked. Nothing changed.
    Dead(SessionId),
}

#[async_trait::async_trait]
pub trait SessionStore {
    /// Creates a session together with its first refresh token, atomically.
    async fn insert_session(
        &self,
        session: &Session,
        first: &RefreshTokenRecord,
    ) -> Result<(), StoreError>;

    async fn session(&self, id: SessionId) -> Result<Session, StoreError>;

    /// The user's sessions that are live at `now`, newest first.
    async fn live_sessions(
        &self,
        user: UserId,
        now: UnixMillis,
    ) -> Result<Vec<Session>, StoreError>;

    /// In one transaction: spends the token with digest `presented`, moves the session's
    /// `last_seen_at` to `now` and its idle deadline to `idle_expires_at` (capped by the
    /// absolute one), and issues the token with digest `next` in the same session, expiring
    /// at that idle deadline. [`StoreError::NotFound`] when no such token was ever issued.
    async fn rotate_refresh_token(
        &self,
        presented: &[u8; 32],
        next: &[u8; 32],
        now: UnixMillis,
        idle_expires_at: UnixMillis,
    ) -> Result<Rotation, StoreError>;

    /// Revokes one session. `false` when it was already revoked.
    async fn revoke_session(&self, id: SessionId, at: UnixMillis) -> Result<bool, StoreError>;

    /// Revokes every unrevoked session of a user but `except`; returns their ids.
    async fn revoke_sessions_of(
        &self,
        user: UserId,
        except: Option<SessionId>,
        at: UnixMillis,
    ) -> Result<Vec<SessionId>, StoreError>;

    /// Sessions revoked at or after `since`, to warm the in-memory revocation list.
    async fn sessions_revoked_since(&self, since: UnixMillis)
        -> Result<Vec<SessionId>, StoreError>;
}

//! `OAuthClientStore`: registered OAuth clients (RFC 7591 metadata) and revoked
//! self-contained access tokens (RFC 7009). `OAuthGrantStore`: authorization codes, the
//! grants users make to clients, and remembered consent.

use medvault_domain::{PatientId, SessionId, UnixMillis, UserId};

use crate::StoreError;

/// A registered client. Secrets are stored as SHA-256 digests of 256 random bits.
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_name: String,
    pub secret_digest: Option<[u8; 32]>,
    pub token_endpoint_auth_method: String,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    /// The scopes the client may ask for, space-separated as in RFC 7591.
    pub scope: String,
    /// The registered JWKS (JSON) of a `private_key_jwt` client.
    pub jwks: Option<String>,
    /// Or where it publishes them (https).
    pub jwks_uri: Option<String>,
    /// How its ID tokens are signed: `ES256` (the default) or `RS256`.
    pub id_token_signed_response_alg: String,
    pub created_at: UnixMillis,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("grant_types", &self.grant_types)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
pub trait OAuthClientStore {
    /// [`StoreError::Conflict`] when the client id is taken.
    async fn insert_oauth_client(&self, client: &OAuthClient) -> Result<(), StoreError>;

    /// [`StoreError::NotFound`] when there is no such client.
    async fn oauth_client(&self, client_id: &str) -> Result<OAuthClient, StoreError>;

    /// Every client, by id.
    async fn oauth_clients(&self) -> Result<Vec<OAuthClient>, StoreError>;

    /// [`StoreError::NotFound`] when there is no such client.
    async fn delete_oauth_client(&self, client_id: &str) -> Result<(), StoreError>;

    /// Revokes a self-contained token by its `jti` until it would have expired anyway
    /// (expired entries are pruned). Revoking twice is fine.
    async fn revoke_token_id(&self, jti: &str, expires_at: UnixMillis) -> Result<(), StoreError>;

    async fn token_id_revoked(&self, jti: &str) -> Result<bool, StoreError>;

    /// Records a client assertion's id until it expires; `false` when it was seen already
    /// (a replay).
    async fn claim_assertion_id(
        &self,
        id: &str,
        expires_at: UnixMillis,
    ) -> Result<bool, StoreError>;
}

/// A pending authorization code (RFC 6749 §4.1.2), by the digest of the code.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub digest: [u8; 32],
    pub client_id: String,
    /// The server's own record of the request (JSON), opaque to the store.
    pub details: String,
    pub expires_at: UnixMillis,
}

impl std::fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationCode")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// What presenting a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// Live and unused until now: spent, and bound to the given session.
    Redeemed { client_id: String, details: String },
    /// Spent before: the session its tokens belong to, which a replay revokes.
    Reused(Option<SessionId>),
    /// Unknown or expired.
    Unknown,
}

/// What a user granted an OAuth client: the tokens of one session (its own refresh-token
/// family), within the SSO session the user approved it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthGrant {
    pub session_id: SessionId,
    pub client_id: String,
    pub sso_session_id: SessionId,
    pub scope: String,
    /// The SMART launch context's patient.
    pub patient: Option<PatientId>,
}

#[async_trait::async_trait]
pub trait OAuthGrantStore {
    /// Stores a code (pruning codes expired a day ago: a replay within a day still revokes).
    async fn insert_authorization_code(&self, code: &AuthorizationCode) -> Result<(), StoreError>;

    /// Spends a live code exactly once, recording `session` as the session its tokens
    /// belong to in the same statement.
    async fn redeem_authorization_code(
        &self,
        digest: &[u8; 32],
        session: SessionId,
        at: UnixMillis,
    ) -> Result<CodeRedemption, StoreError>;

    /// Opens a grant's session (see `SessionStore::insert_session`) and records the grant,
    /// in one transaction: no grant session lacks its scope.
    async fn insert_grant_session(
        &self,
        grant: &OAuthGrant,
        session: &medvault_domain::Session,
        first: &crate::RefreshTokenRecord,
    ) -> Result<(), StoreError>;

    /// The grant a session's tokens carry; `None` for first-party and SSO sessions.
    async fn oauth_grant(&self, session: SessionId) -> Result<Option<OAuthGrant>, StoreError>;

    /// The session a refresh token (by digest) belongs to, spent or not, and whether it
    /// could still be spent at `now` (unused and unexpired).
    async fn refresh_token_session(
        &self,
        digest: &[u8; 32],
        now: UnixMillis,
    ) -> Result<Option<(SessionId, bool)>, StoreError>;

    /// The grant sessions approved within an SSO session (ended with it).
    async fn oauth_grants_within(
        &self,
        sso_session: SessionId,
    ) -> Result<Vec<SessionId>, StoreError>;

    /// Moves the grants of one SSO session to another (the same user signed in again in
    /// the same browser), so signing out still ends them all.
    async fn move_oauth_grants(&self, from: SessionId, to: SessionId) -> Result<(), StoreError>;

    /// The scopes the user chose to remember approving for the client.
    async fn remembered_consent(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<Option<String>, StoreError>;

    /// Remembers (or replaces) the scopes the user approved for the client.
    async fn remember_consent(
        &self,
        user: UserId,
        client_id: &str,
        scope: &str,
        at: UnixMillis,
    ) -> Result<(), StoreError>;
}

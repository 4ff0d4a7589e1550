//! `OAuthClientStore`: registered OAuth clients (RFC 7591 metadata) and revoked
//! self-contained access tokens (RFC 7009).

use medvault_domain::UnixMillis;

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

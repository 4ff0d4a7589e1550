-- OAuth clients (RFC 7591 metadata). Secrets: SHA-256 digests of 256 random bits.
-- grant_types and redirect_uris are space-separated (redirect URIs hold no spaces).
CREATE TABLE oauth_clients (
    client_id                  TEXT PRIMARY KEY NOT NULL,
    client_name                TEXT NOT NULL,
    secret_hash                BYTEA,
    token_endpoint_auth_method TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    redirect_uris              TEXT NOT NULL,
    scope                      TEXT NOT NULL,
    jwks                       TEXT,
    created_at                 BIGINT NOT NULL
);

-- Revoked self-contained access tokens (RFC 7009), kept until they would have expired.
CREATE TABLE oauth_revoked_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

-- private_key_jwt assertions seen (RFC 7523 §3: a jti is used once), until they expire.
CREATE TABLE oauth_assertions (
    id         TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);

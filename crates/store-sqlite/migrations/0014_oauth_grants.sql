-- Authorization code + PKCE, user grants to OAuth clients, remembered consent (issue #9).

-- Authorization codes (RFC 6749 §4.1.2), by SHA-256 digest. A code is spent once; the
-- session its tokens belong to is recorded in the same statement, so a second use can
-- revoke them (§4.1.2, §10.5). `details` is the server's own JSON (redirect URI, PKCE
-- challenge, scope, nonce), opaque to the store.
CREATE TABLE oauth_codes (
    digest     BLOB PRIMARY KEY NOT NULL,
    client_id  TEXT NOT NULL,
    details    TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    session_id TEXT
) STRICT;
CREATE INDEX oauth_codes_by_expiry ON oauth_codes (expires_at);

-- What a user granted a client: one row per token session (its refresh-token family),
-- written in the same transaction as the session.
CREATE TABLE oauth_grants (
    session_id     TEXT PRIMARY KEY NOT NULL,
    client_id      TEXT NOT NULL,
    sso_session_id TEXT NOT NULL,
    scope          TEXT NOT NULL,
    patient_id     TEXT
) STRICT;
CREATE INDEX oauth_grants_by_sso ON oauth_grants (sso_session_id);

-- Consent a user chose to remember for a client: the scopes they approved.
CREATE TABLE oauth_consents (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT;

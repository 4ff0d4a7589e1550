-- Passkeys (WebAuthn credentials). passkey is the relying-party library's serialised
-- credential: public key, algorithm, signature counter. Public, but updates compare and
-- swap it, so a cloned authenticator's replayed counter never wins.
CREATE TABLE webauthn_credentials (
    credential_id TEXT PRIMARY KEY NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    nickname      TEXT NOT NULL,
    passkey       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT
);
CREATE INDEX webauthn_credentials_by_user ON webauthn_credentials (user_id);

-- Ceremonies in flight: the challenge state, server-side, single use, short-lived.
CREATE TABLE webauthn_ceremonies (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    session_id TEXT,
    state      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at   BIGINT
);
CREATE INDEX webauthn_ceremonies_by_expiry ON webauthn_ceremonies (expires_at);

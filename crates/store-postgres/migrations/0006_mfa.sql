-- Second factors (DESIGN.md: the mfa context). TOTP secrets are sealed under a key derived
-- from the master key; recovery codes and sign-in challenges are stored as SHA-256 digests.

-- When a session last verified a second factor (sign-in or step-up, RFC 9470).
ALTER TABLE sessions ADD COLUMN mfa_at BIGINT;

CREATE TABLE mfa_totp (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    confirmed_at  BIGINT,
    -- The last time step accepted: a code is never accepted twice (RFC 6238 §5.2).
    last_step     BIGINT NOT NULL
);

CREATE TABLE mfa_recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- A password sign-in waiting for its second factor: single use, short-lived, and dead
-- after too many wrong codes.
CREATE TABLE mfa_challenges (
    token_hash BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    failures   BIGINT NOT NULL,
    spent_at   BIGINT
);
CREATE INDEX mfa_challenges_by_expiry ON mfa_challenges (expires_at);

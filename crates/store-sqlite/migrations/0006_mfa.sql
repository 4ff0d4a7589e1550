-- Second factors (DESIGN.md: the mfa context). TOTP secrets are sealed under a key derived
-- from the master key; recovery codes and sign-in challenges are stored as SHA-256 digests.

-- When a session last verified a second factor (sign-in or step-up, RFC 9470).
ALTER TABLE sessions ADD COLUMN mfa_at INTEGER;

CREATE TABLE mfa_totp (
    user_id       TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    -- The last time step accepted: a code is never accepted twice (RFC 6238 §5.2).
    last_step     INTEGER NOT NULL
) STRICT;

CREATE TABLE mfa_recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

-- A password sign-in waiting for its second factor: single use, short-lived, and dead
-- after too many wrong codes.
CREATE TABLE mfa_challenges (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    failures   INTEGER NOT NULL,
    spent_at   INTEGER
) STRICT;
CREATE INDEX mfa_challenges_by_expiry ON mfa_challenges (expires_at);

-- Identity: users, sessions, refresh tokens and token-signing keys.
-- Times are Unix milliseconds; ids are canonical lowercase UUID text.

CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    display_name  TEXT,
    status        TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    roles         TEXT NOT NULL,
    patient_id    TEXT UNIQUE,
    password_hash TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          INTEGER NOT NULL,
    last_seen_at        INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    ip                  TEXT,
    user_agent          TEXT,
    amr                 TEXT NOT NULL,
    revoked_at          INTEGER
) STRICT;
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
CREATE INDEX sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Only SHA-256 digests of refresh tokens are stored (DESIGN.md §2.4).
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- Private halves are sealed under the master key; the public JWK is plaintext by design.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY NOT NULL,
    alg            TEXT NOT NULL,
    sealed_private BLOB NOT NULL,
    public_jwk     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('next', 'active', 'retiring', 'retired')),
    created_at     INTEGER NOT NULL,
    state_since    INTEGER NOT NULL,
    publish_until  INTEGER
) STRICT;

-- At most one key signs and at most one waits to sign.
CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state) WHERE state IN ('next', 'active');

-- The audit trail: a hash chain (each entry binds its predecessor's hash), the chain's
-- head, signed checkpoints of it, and the checkpoint-signing key (sealed under the master
-- key). Events hold ids and codes only, never PHI.

CREATE TABLE audit_events (
    seq           BIGINT PRIMARY KEY,
    prev_hash     BYTEA NOT NULL,
    hash          BYTEA NOT NULL,
    at            BIGINT NOT NULL,
    actor_kind    TEXT NOT NULL,
    actor_id      TEXT,
    actor_roles   TEXT,
    action        TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    resource_kind TEXT,
    resource_id   TEXT,
    patient_id    TEXT,
    purpose       TEXT,
    session_id    TEXT,
    source_ip     TEXT,
    request_id    TEXT
);
CREATE INDEX audit_events_by_patient ON audit_events (patient_id, seq) WHERE patient_id IS NOT NULL;

-- One row: appenders lock it, so the chain has one writer at a time across a fleet.
CREATE TABLE audit_head (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    last_seq  BIGINT NOT NULL,
    last_hash BYTEA NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    head_hash BYTEA NOT NULL,
    at        BIGINT NOT NULL,
    key_id    TEXT NOT NULL,
    signature BYTEA NOT NULL
);

-- One row: the single key that signs checkpoints.
CREATE TABLE audit_keys (
    id             BIGINT PRIMARY KEY CHECK (id = 1),
    key_id         TEXT NOT NULL,
    sealed_private BYTEA NOT NULL,
    public_key     BYTEA NOT NULL,
    created_at     BIGINT NOT NULL
);

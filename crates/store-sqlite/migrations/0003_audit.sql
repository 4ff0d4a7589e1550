-- The audit trail: a hash chain (each entry binds its predecessor's hash), the chain's
-- head, signed checkpoints of it, and the checkpoint-signing key (sealed under the master
-- key). Events hold ids and codes only, never PHI.

CREATE TABLE audit_events (
    seq           INTEGER PRIMARY KEY NOT NULL,
    prev_hash     BLOB NOT NULL,
    hash          BLOB NOT NULL,
    at            INTEGER NOT NULL,
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
) STRICT;
CREATE INDEX audit_events_by_patient ON audit_events (patient_id, seq) WHERE patient_id IS NOT NULL;

-- One row: appenders lock it, so the chain has one writer at a time across a fleet.
CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last_seq  INTEGER NOT NULL,
    last_hash BLOB NOT NULL
) STRICT;
INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, zeroblob(32));

CREATE TABLE audit_checkpoints (
    seq       INTEGER PRIMARY KEY NOT NULL,
    head_hash BLOB NOT NULL,
    at        INTEGER NOT NULL,
    key_id    TEXT NOT NULL,
    signature BLOB NOT NULL
) STRICT;

-- One row: the single key that signs checkpoints.
CREATE TABLE audit_keys (
    id             INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    key_id         TEXT NOT NULL,
    sealed_private BLOB NOT NULL,
    public_key     BLOB NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;

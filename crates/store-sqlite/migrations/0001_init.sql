-- Facts about this database, e.g. the id of the master key it is sealed to.
CREATE TABLE medvault_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- Times are Unix milliseconds; ids are canonical lowercase UUID text, the same in every
-- backend so one set of statements serves all (crates/store/src/sql).

-- Per-patient data keys, only ever stored wrapped by the master key (DESIGN.md §3).
CREATE TABLE data_keys (
    patient_id    TEXT PRIMARY KEY NOT NULL,
    master_key_id TEXT NOT NULL,
    sealed        BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    rewrapped_at  INTEGER
) STRICT;

CREATE INDEX data_keys_by_master_key ON data_keys (master_key_id, patient_id);

-- Erasure by crypto-shredding (GDPR Art. 17).
--
-- key_shares is used only in the key vault database: on SQLite a separate file
-- (keyvault.db), so destroying a share reaches every backup of the records database. A
-- patient's data key is wrapped under the master key and their share; the share also
-- keys the pseudonymous subject the audit trail names them by.
CREATE TABLE key_shares (
    patient_id TEXT PRIMARY KEY NOT NULL,
    share      BYTEA NOT NULL,
    subject    TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

-- Holds that keep a patient's records from erasure (Art. 17(3)).
CREATE TABLE legal_holds (
    patient_id TEXT PRIMARY KEY NOT NULL,
    reason     TEXT NOT NULL,
    placed_by  TEXT NOT NULL,
    placed_at  BIGINT NOT NULL
);

-- Erasures begun and not yet completed; a row lives only until its patient's rows are gone.
CREATE TABLE erasures (
    patient_id   TEXT PRIMARY KEY NOT NULL,
    requested_at BIGINT NOT NULL
);

-- In the key vault: patients erased, so that their rows, come back with a restored
-- backup of the records, are recognised and erased again (and nothing else is).
CREATE TABLE erased_patients (
    patient_id TEXT PRIMARY KEY NOT NULL,
    erased_at  BIGINT NOT NULL
);

-- Retention finds patients whose records have all expired.
CREATE INDEX fhir_resources_by_patient_time ON fhir_resources (patient_id, last_updated);

-- The encrypted FHIR record store (DESIGN.md §2.2). Bodies are AES-256-GCM ciphertext
-- under the data key of `patient_id` (the nil id is the system key of directory
-- resources); tokens are keyed blind-index digests. Nothing else about a record is here.

-- The current version of every resource.
CREATE TABLE fhir_resources (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    version       INTEGER NOT NULL,
    last_updated  INTEGER NOT NULL,
    patient_id    TEXT NOT NULL,
    deleted       INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    PRIMARY KEY (resource_type, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX fhir_resources_by_patient ON fhir_resources (patient_id, resource_type, id);
CREATE INDEX fhir_resources_by_update ON fhir_resources (resource_type, last_updated);

-- Every version, including deletions (empty body).
CREATE TABLE fhir_versions (
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    version       INTEGER NOT NULL,
    last_updated  INTEGER NOT NULL,
    patient_id    TEXT NOT NULL,
    deleted       INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    body          BLOB NOT NULL,
    PRIMARY KEY (resource_type, id, version)
) STRICT;
CREATE INDEX fhir_versions_by_time ON fhir_versions (resource_type, last_updated, id, version);
CREATE INDEX fhir_versions_by_patient ON fhir_versions (patient_id);

-- Blind-index tokens of current versions.
CREATE TABLE fhir_tokens (
    resource_type TEXT NOT NULL,
    token         BLOB NOT NULL,
    id            TEXT NOT NULL,
    PRIMARY KEY (resource_type, token, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX fhir_tokens_by_resource ON fhir_tokens (resource_type, id);

-- The encrypted FHIR record store (DESIGN.md §2.2). Bodies are AES-256-GCM ciphertext
-- under the data key of `patient_id` (the nil id is the system key of directory
-- resources); tokens are keyed blind-index digests. Nothing else about a record is here.
-- Text keys use the "C" collation: byte order, the same keyset order as SQLite.

-- The current version of every resource.
CREATE TABLE fhir_resources (
    resource_type TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    version       BIGINT NOT NULL,
    last_updated  BIGINT NOT NULL,
    patient_id    TEXT COLLATE "C" NOT NULL,
    deleted       BIGINT NOT NULL CHECK (deleted IN (0, 1)),
    PRIMARY KEY (resource_type, id)
);
CREATE INDEX fhir_resources_by_patient ON fhir_resources (patient_id, resource_type, id);
CREATE INDEX fhir_resources_by_update ON fhir_resources (resource_type, last_updated);

-- Every version, including deletions (empty body).
CREATE TABLE fhir_versions (
    resource_type TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    version       BIGINT NOT NULL,
    last_updated  BIGINT NOT NULL,
    patient_id    TEXT COLLATE "C" NOT NULL,
    deleted       BIGINT NOT NULL CHECK (deleted IN (0, 1)),
    body          BYTEA NOT NULL,
    PRIMARY KEY (resource_type, id, version)
);
CREATE INDEX fhir_versions_by_time ON fhir_versions (resource_type, last_updated, id, version);
CREATE INDEX fhir_versions_by_patient ON fhir_versions (patient_id);

-- Blind-index tokens of current versions.
CREATE TABLE fhir_tokens (
    resource_type TEXT COLLATE "C" NOT NULL,
    token         BYTEA NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (resource_type, token, id)
);
CREATE INDEX fhir_tokens_by_resource ON fhir_tokens (resource_type, id);

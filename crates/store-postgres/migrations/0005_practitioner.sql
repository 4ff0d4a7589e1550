-- A clinician user is linked to the FHIR Practitioner resource that is them.
ALTER TABLE users ADD COLUMN practitioner_id TEXT;
CREATE UNIQUE INDEX users_by_practitioner ON users (practitioner_id) WHERE practitioner_id IS NOT NULL;

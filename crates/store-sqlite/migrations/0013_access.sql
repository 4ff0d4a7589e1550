-- Authorization (issue #6). Policy sets are data: every accepted set is kept, the newest
-- is in force.
CREATE TABLE access_policies (
    version    INTEGER PRIMARY KEY NOT NULL,
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL
) STRICT;

-- How often each patient's access facts (care teams, consents, the Patient itself,
-- break-the-glass grants) changed: cached decisions are only reused at the same epoch,
-- so a change takes effect on the next request on every instance.
CREATE TABLE access_epochs (
    patient_id TEXT PRIMARY KEY NOT NULL,
    epoch      INTEGER NOT NULL
) STRICT;

-- Emergency access (HIPAA §164.312(a)(2)(ii)). The reason is sealed under the patient's
-- data key, so erasure takes it along.
CREATE TABLE break_glass_grants (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    reason     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX break_glass_by_patient ON break_glass_grants (patient_id, expires_at);
CREATE INDEX break_glass_by_time ON break_glass_grants (created_at);
CREATE INDEX break_glass_by_user ON break_glass_grants (user_id, expires_at);

-- The Organization a staff user works for (directors read its patients; consents may
-- name it).
ALTER TABLE users ADD COLUMN organization_id TEXT;

-- The access policies that decided a record access, named in its audit event. NULL on
-- every other event, and left out of the hashed form when NULL (older entries verify).
ALTER TABLE audit_events ADD COLUMN policy TEXT;

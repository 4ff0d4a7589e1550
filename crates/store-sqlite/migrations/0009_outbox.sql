-- Notifications waiting for delivery (security-event webhooks): at least once, retried
-- with back-off, leased so that one deliverer of a fleet sends each at a time.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,
    delivered_at    INTEGER
) STRICT;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

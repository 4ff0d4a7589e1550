-- Notifications waiting for delivery (security-event webhooks): at least once, retried
-- with back-off, leased so that one deliverer of a fleet sends each at a time.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    payload         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT,
    delivered_at    BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL;

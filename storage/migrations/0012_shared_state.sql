-- State that several processes share, kept in the database instead of one process's memory:
-- leases (the scheduler's leader, a member's relay lock), conversation state (awaiting an
-- order number), and the Telegram update ids already taken (a redelivered update, which the
-- balancer may send to another web worker, is dropped). Plain portable SQL: the PostgreSQL
-- migrations say the same with their own types.
-- Numbered 0012: reserved for the roles branch.

-- One row per lease: held by `holder` until `expires_at`; a holder renews it before then, and
-- anyone may take it once it has expired.
CREATE TABLE leases (
    name            TEXT PRIMARY KEY,
    holder          TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    renewed_at      TEXT NOT NULL
);

-- Short-lived conversation state per Telegram user and key ("awaiting an order number"),
-- forgotten once `expires_at` has passed.
CREATE TABLE conversation_state (
    telegram_user_id INTEGER NOT NULL,
    key             TEXT NOT NULL,
    value           TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    PRIMARY KEY (telegram_user_id, key)
);
CREATE INDEX conversation_state_expiry ON conversation_state (expires_at);

-- Telegram update ids already taken by a web worker, kept for [retention] update_ids_days.
CREATE TABLE telegram_updates (
    update_id       INTEGER PRIMARY KEY,
    received_at     TEXT NOT NULL
);
CREATE INDEX telegram_updates_received ON telegram_updates (received_at);

-- When a sender started sending a claimed notice (NULL: not yet, or given back untried). A
-- notice whose claim died with this set may have reached the member: it is not sent again.
ALTER TABLE outbox ADD COLUMN sending_at TEXT;

-- Retention prunes idempotency keys by age.
CREATE INDEX idempotency_created ON idempotency (created_at);

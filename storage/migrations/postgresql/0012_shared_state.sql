-- PostgreSQL twin of ../0012_shared_state.sql: leases, conversation state, taken Telegram update
-- ids, the outbox's sending mark, and the index retention prunes idempotency keys by.
CREATE TABLE leases (
    name            text PRIMARY KEY,
    holder          text NOT NULL,
    expires_at      timestamptz NOT NULL,
    renewed_at      timestamptz NOT NULL
);

CREATE TABLE conversation_state (
    telegram_user_id bigint NOT NULL,
    key             text NOT NULL,
    value           text NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (telegram_user_id, key)
);
CREATE INDEX conversation_state_expiry ON conversation_state (expires_at);

CREATE TABLE telegram_updates (
    update_id       bigint PRIMARY KEY,
    received_at     timestamptz NOT NULL
);
CREATE INDEX telegram_updates_received ON telegram_updates (received_at);

ALTER TABLE outbox ADD COLUMN sending_at timestamptz;

CREATE INDEX idempotency_created ON idempotency (created_at);

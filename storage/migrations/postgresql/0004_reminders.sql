-- PostgreSQL twin of ../0004_reminders.sql.
ALTER TABLE telegram_users ADD COLUMN remind_daily text NOT NULL DEFAULT 'on'
    CHECK (remind_daily IN ('on', 'silent', 'off'));
ALTER TABLE telegram_users ADD COLUMN remind_expiry text NOT NULL DEFAULT 'on'
    CHECK (remind_expiry IN ('on', 'silent', 'off'));
ALTER TABLE telegram_users ADD COLUMN remind_burn text NOT NULL DEFAULT 'on'
    CHECK (remind_burn IN ('on', 'silent', 'off'));
ALTER TABLE telegram_users ADD COLUMN remind_account text NOT NULL DEFAULT 'on'
    CHECK (remind_account IN ('on', 'silent', 'off'));
ALTER TABLE telegram_users ADD COLUMN reminder_hour bigint
    CHECK (reminder_hour BETWEEN 0 AND 23);
ALTER TABLE telegram_users ADD COLUMN quiet_start bigint CHECK (quiet_start BETWEEN 0 AND 1439);
ALTER TABLE telegram_users ADD COLUMN quiet_end bigint CHECK (quiet_end BETWEEN 0 AND 1439);
-- SQLite walks this index in rowid order; here telegram_user_id is the key it walks by.
CREATE INDEX telegram_users_hour ON telegram_users (reminder_hour, telegram_user_id);

ALTER TABLE outbox ADD COLUMN priority bigint NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN claim_id text;
ALTER TABLE outbox ADD COLUMN outcome text;
DROP INDEX outbox_due;
CREATE INDEX outbox_ready ON outbox (priority, due_at) WHERE status = 'pending';
CREATE INDEX outbox_settled ON outbox (created_at) WHERE status != 'pending';

CREATE TABLE scheduler_runs (
    job             text PRIMARY KEY,
    period          text NOT NULL,
    done_at         timestamptz NOT NULL
);

-- Reminders: each Telegram user's reminder settings, a priority and a claim on outbox rows,
-- and the scheduler's progress (which hour was planned, which day was started).

-- Per kind of notice: 'on', 'silent' (sent with disable_notification) or 'off'.
ALTER TABLE telegram_users ADD COLUMN remind_daily TEXT NOT NULL DEFAULT 'on'
    CHECK (remind_daily IN ('on', 'silent', 'off'));
ALTER TABLE telegram_users ADD COLUMN remind_expiry TEXT NOT NULL DEFAULT 'on'
    CHECK (remind_expiry IN ('on', 'silent', 'off'));
ALTER TABLE telegram_users ADD COLUMN remind_burn TEXT NOT NULL DEFAULT 'on'
    CHECK (remind_burn IN ('on', 'silent', 'off'));
ALTER TABLE telegram_users ADD COLUMN remind_account TEXT NOT NULL DEFAULT 'on'
    CHECK (remind_account IN ('on', 'silent', 'off'));
-- NULL follows the configured default, so changing the config moves everyone who never chose.
ALTER TABLE telegram_users ADD COLUMN reminder_hour INTEGER
    CHECK (reminder_hour BETWEEN 0 AND 23);
-- Minutes after local midnight; start = end means no quiet hours.
ALTER TABLE telegram_users ADD COLUMN quiet_start INTEGER CHECK (quiet_start BETWEEN 0 AND 1439);
ALTER TABLE telegram_users ADD COLUMN quiet_end INTEGER CHECK (quiet_end BETWEEN 0 AND 1439);
-- The planner walks the users whose hour has come, in rowid order, in batches.
CREATE INDEX telegram_users_hour ON telegram_users (reminder_hour);

-- Account notices (priority 0) go before planned reminders (1): a points notice is not stuck
-- behind a fan-out. claim_id names the run that holds a row until claimed_until; outcome says
-- why a row was skipped or failed.
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN claim_id TEXT;
ALTER TABLE outbox ADD COLUMN outcome TEXT;
DROP INDEX outbox_due;
CREATE INDEX outbox_ready ON outbox (priority, due_at) WHERE status = 'pending';
CREATE INDEX outbox_settled ON outbox (created_at) WHERE status != 'pending';

-- One row per scheduled job: the last period (hour or day) it completed.
CREATE TABLE scheduler_runs (
    job             TEXT PRIMARY KEY,
    period          TEXT NOT NULL,
    done_at         TEXT NOT NULL
);

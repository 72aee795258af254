-- PostgreSQL twin of ../0002_telegram_users.sql.
CREATE TABLE telegram_users (
    telegram_user_id    bigint PRIMARY KEY,
    language            text,
    telegram_language   text,
    reminders           bigint NOT NULL DEFAULT 1,
    unreachable         bigint NOT NULL DEFAULT 0,
    first_seen          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

ALTER TABLE members ADD COLUMN referral_code text;
CREATE UNIQUE INDEX members_referral_code ON members (referral_code) WHERE referral_code IS NOT NULL;

-- Telegram users the bot has met (linked or not): their chosen language and reminder switch,
-- and whether they can be reached (a user who blocked the bot is skipped until they write).
CREATE TABLE telegram_users (
    telegram_user_id    INTEGER PRIMARY KEY,
    language            TEXT,
    telegram_language   TEXT,
    reminders           INTEGER NOT NULL DEFAULT 1,
    unreachable         INTEGER NOT NULL DEFAULT 0,
    first_seen          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

-- The code in a member's invite link (t.me/<bot>?start=ref_<code>); made on first request.
ALTER TABLE members ADD COLUMN referral_code TEXT;
CREATE UNIQUE INDEX members_referral_code ON members (referral_code) WHERE referral_code IS NOT NULL;

-- The owner's console (bot/web): one-time sign-in links from the bot's /console, the audit
-- trail of what admins did there, and the indexes its overview and member search read.
-- Numbered 0009: reserved for the web branch.

-- Only a hash of each link's token is stored, like link_tokens: a copy of the database does
-- not sign anyone in. used_at makes a link work once.
CREATE TABLE console_logins (
    token_hash      TEXT PRIMARY KEY,
    admin_id        INTEGER NOT NULL,
    expires_at      TEXT NOT NULL,
    used_at         TEXT,
    created_at      TEXT NOT NULL
);

-- One row per console action (grant, goodwill coupon, unlink, support ban), with the admin.
-- Grants and coupons are also on the ledger with the admin as actor; unlink and ban are not
-- balance changes, so this is their only record.
CREATE TABLE admin_actions (
    id              INTEGER PRIMARY KEY,
    admin_id        INTEGER NOT NULL,
    action          TEXT NOT NULL,
    member_id       TEXT NOT NULL,
    detail          TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX admin_actions_member ON admin_actions (member_id, id);

-- The overview's 90 days of points by reason and its "active in 30 days" read a range of
-- recent ledger rows from this index alone (1,000,000 rows: a few percent of them).
CREATE INDEX ledger_recent ON ledger (created_at, currency, reason, amount, member_id);
-- A member's tickets on their console page.
CREATE INDEX tickets_member ON tickets (member_id) WHERE member_id IS NOT NULL;
-- Members are found by e-mail and by Telegram username (stored lower case, without "@").
CREATE INDEX members_email ON members (email) WHERE email IS NOT NULL;
ALTER TABLE telegram_users ADD COLUMN username TEXT;
CREATE INDEX telegram_users_username ON telegram_users (username) WHERE username IS NOT NULL;

-- The send queue: what the bot must still say to one chat (a relayed message, a note in a
-- ticket's topic, a member card, a coupon code), kept until Telegram took it or it failed for
-- good. Rows of one chat go out strictly in id order; a sender holds a chat's head row by
-- claim_id until claimed_until, so two senders (processes) never send to one chat at once.
-- error keeps why the last attempt failed; a failed row also says so where someone sees it.
CREATE TABLE sends (
    id                  INTEGER PRIMARY KEY,
    chat_id             INTEGER NOT NULL,
    kind                TEXT NOT NULL,
    payload             TEXT NOT NULL,
    ticket_id           INTEGER REFERENCES tickets (id),
    status              TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sent', 'failed')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    claim_id            TEXT,
    claimed_until       TEXT,
    error               TEXT,
    -- A send queued again for the same cause (a redelivered update) is queued once.
    dedupe_key          TEXT,
    created_at          TEXT NOT NULL,
    settled_at          TEXT
);
CREATE INDEX sends_pending ON sends (chat_id, id) WHERE status = 'pending';
CREATE UNIQUE INDEX sends_dedupe ON sends (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX sends_settled ON sends (settled_at) WHERE status != 'pending';

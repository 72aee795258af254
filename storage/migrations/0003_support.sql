-- Live chat with human agents: tickets (one forum topic each in the agents' chat), every
-- message relayed either way, ratings, and users support no longer takes messages from.
-- Tickets are keyed by Telegram user: someone who has not linked a shop account can still ask
-- for help; member_id records the link when there was one at opening.

CREATE TABLE tickets (
    id                  INTEGER PRIMARY KEY,
    telegram_user_id    INTEGER NOT NULL,
    member_id           TEXT REFERENCES members (member_id),
    status              TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    subject             TEXT CHECK (subject IN ('points', 'coupon', 'order', 'other')),
    display_name        TEXT NOT NULL,
    username            TEXT,
    previous_id         INTEGER REFERENCES tickets (id),
    -- The agents' forum topic; thread_id is NULL until the first message needs it, and is
    -- replaced when agents deleted the topic and the next message recreated it.
    chat_id             INTEGER,
    thread_id           INTEGER,
    topic_name          TEXT,
    card_message_id     INTEGER,
    opened_at           TEXT NOT NULL,
    first_message_at    TEXT,
    -- When the first answer is due (working time only); flagged once when it passes unanswered.
    sla_due_at          TEXT,
    first_answer_at     TEXT,
    sla_flagged_at      TEXT,
    closed_at           TEXT,
    closed_by           TEXT,
    rating              INTEGER CHECK (rating BETWEEN 1 AND 5),
    rated_at            TEXT,
    CHECK ((status = 'open') = (closed_at IS NULL)),
    CHECK (rating IS NULL OR status = 'closed')
);
-- The race of a member's first two quick messages: at most one open ticket per user, enforced
-- by the database whatever the handlers do.
CREATE UNIQUE INDEX tickets_one_open ON tickets (telegram_user_id) WHERE status = 'open';
CREATE INDEX tickets_user ON tickets (telegram_user_id, id);
CREATE UNIQUE INDEX tickets_topic ON tickets (chat_id, thread_id) WHERE thread_id IS NOT NULL;
CREATE INDEX tickets_waiting ON tickets (sla_due_at)
    WHERE status = 'open' AND first_answer_at IS NULL AND sla_flagged_at IS NULL;

-- Every message of a ticket, either way. direction: 'member' (member -> agents) or 'agent'
-- (agents -> member). Media are kept by Telegram file_id, never as bytes. The source message is
-- unique: a redelivered update is recorded once.
CREATE TABLE ticket_messages (
    id                  INTEGER PRIMARY KEY,
    ticket_id           INTEGER NOT NULL REFERENCES tickets (id),
    direction           TEXT NOT NULL CHECK (direction IN ('member', 'agent')),
    kind                TEXT NOT NULL,
    author_id           INTEGER NOT NULL,
    text                TEXT,
    file_id             TEXT,
    source_chat_id      INTEGER NOT NULL,
    source_message_id   INTEGER NOT NULL,
    copy_chat_id        INTEGER,
    copy_message_id     INTEGER,
    created_at          TEXT NOT NULL,
    UNIQUE (source_chat_id, source_message_id)
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, id);

-- Users whose messages support no longer relays (/ban); /unban deletes the row.
CREATE TABLE support_bans (
    telegram_user_id    INTEGER PRIMARY KEY,
    banned_by           INTEGER NOT NULL,
    reason              TEXT,
    created_at          TEXT NOT NULL
);

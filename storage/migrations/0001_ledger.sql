-- Members, orders, the append-only ledger, coupons, checkout holds, idempotency records,
-- Telegram link tokens and links, and the notification outbox.
-- Timestamps are ISO 8601 UTC text in one fixed format, so text order is time order.

CREATE TABLE members (
    member_id       TEXT PRIMARY KEY,
    email           TEXT,
    name            TEXT,
    language        TEXT,
    email_verified  INTEGER NOT NULL DEFAULT 0,
    referred_by     TEXT REFERENCES members (member_id),
    points          INTEGER NOT NULL DEFAULT 0 CHECK (points >= 0),
    points_held     INTEGER NOT NULL DEFAULT 0 CHECK (points_held >= 0),
    coins           INTEGER NOT NULL DEFAULT 0 CHECK (coins >= 0),
    level_code      TEXT NOT NULL,
    coin_streak     INTEGER NOT NULL DEFAULT 0,
    last_claim_day  TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX members_referred_by ON members (referred_by) WHERE referred_by IS NOT NULL;

CREATE TABLE orders (
    order_id        TEXT PRIMARY KEY,
    member_id       TEXT NOT NULL REFERENCES members (member_id),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents >= 0),
    status          TEXT NOT NULL CHECK (status IN
                        ('placed', 'paid', 'delivered', 'returned', 'not_delivered', 'cancelled')),
    paid            INTEGER NOT NULL DEFAULT 0,
    reviewed        INTEGER NOT NULL DEFAULT 0,
    placed_at       TEXT NOT NULL,
    delivered_at    TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX orders_member ON orders (member_id, status);

-- One row per balance change. level_points is what the row adds to (or, for a take-back,
-- removes from) the points that count toward the level, dated by counted_at: a take-back is
-- dated like the credit it reverses, so a rolling window drops both together.
CREATE TABLE ledger (
    id              INTEGER PRIMARY KEY,
    member_id       TEXT NOT NULL REFERENCES members (member_id),
    currency        TEXT NOT NULL CHECK (currency IN ('points', 'coins')),
    amount          INTEGER NOT NULL,
    balance_after   INTEGER NOT NULL CHECK (balance_after >= 0),
    reason          TEXT NOT NULL,
    ref             TEXT,
    idem_key        TEXT UNIQUE,
    level_points    INTEGER NOT NULL DEFAULT 0,
    counted_at      TEXT NOT NULL,
    shortfall       INTEGER NOT NULL DEFAULT 0 CHECK (shortfall >= 0),
    actor           TEXT,
    note            TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX ledger_member ON ledger (member_id, id);
CREATE INDEX ledger_level ON ledger (member_id, counted_at) WHERE level_points != 0;
CREATE INDEX ledger_ref ON ledger (ref, member_id) WHERE ref IS NOT NULL;

CREATE TABLE coupons (
    code            TEXT PRIMARY KEY,
    member_id       TEXT NOT NULL REFERENCES members (member_id),
    value_cents     INTEGER NOT NULL CHECK (value_cents > 0),
    paid_with       TEXT NOT NULL CHECK (paid_with IN ('points', 'coins', 'goodwill')),
    cost            INTEGER NOT NULL CHECK (cost >= 0),
    ledger_id       INTEGER NOT NULL UNIQUE REFERENCES ledger (id),
    status          TEXT NOT NULL CHECK (status IN ('active', 'used', 'expired', 'burned')),
    issued_at       TEXT NOT NULL,
    issued_day      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    burns           INTEGER NOT NULL,
    used_at         TEXT,
    order_id        TEXT
);
CREATE INDEX coupons_member_day ON coupons (member_id, issued_day);
CREATE INDEX coupons_member_status ON coupons (member_id, status);
CREATE INDEX coupons_active_expiry ON coupons (expires_at) WHERE status = 'active';

CREATE TABLE holds (
    hold_id         TEXT PRIMARY KEY,
    member_id       TEXT NOT NULL REFERENCES members (member_id),
    order_id        TEXT NOT NULL,
    points          INTEGER NOT NULL CHECK (points > 0),
    status          TEXT NOT NULL CHECK (status IN ('held', 'captured', 'released')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX holds_member ON holds (member_id, status);
CREATE INDEX holds_order ON holds (order_id, status);

-- The first answer to a request that may be repeated, keyed by its idempotency key.
CREATE TABLE idempotency (
    key             TEXT PRIMARY KEY,
    fingerprint     TEXT NOT NULL,
    response        TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

-- Only a hash of each token is stored: a copy of the database does not let anyone link.
CREATE TABLE link_tokens (
    token_hash      TEXT PRIMARY KEY,
    member_id       TEXT NOT NULL REFERENCES members (member_id),
    expires_at      TEXT NOT NULL,
    used_at         TEXT,
    used_by         INTEGER,
    created_at      TEXT NOT NULL
);

CREATE TABLE telegram_links (
    member_id       TEXT PRIMARY KEY REFERENCES members (member_id),
    telegram_user_id INTEGER NOT NULL UNIQUE,
    linked_at       TEXT NOT NULL
);

-- Notices for members, written in the same transaction as the change they describe and sent
-- later by the scheduler; dedupe_key makes each notice exist once.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    member_id       TEXT NOT NULL REFERENCES members (member_id),
    kind            TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    due_at          TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'sent', 'skipped', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    claimed_until   TEXT,
    sent_at         TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox (due_at) WHERE status = 'pending';

-- Shop platform connectors (WooCommerce, Shopify) and refunds.
-- Numbered 0008: the number reserved for the connectors branch.

-- Refunds of an order, once each by the shop's refund id. amount_cents is what the refund
-- takes off the order's earning amount (items after discounts), capped at what was left.
CREATE TABLE refunds (
    refund_id       TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (order_id),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents >= 0),
    requested_cents INTEGER NOT NULL CHECK (requested_cents >= 0),
    refunded_at     TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX refunds_order ON refunds (order_id);

-- What all refunds so far took off the order: its spend toward the level is the rest.
ALTER TABLE orders ADD COLUMN refunded_cents INTEGER NOT NULL DEFAULT 0
    CHECK (refunded_cents >= 0);
-- The standing query reads spend as SUM(amount_cents - refunded_cents) from the index alone.
DROP INDEX orders_member;
CREATE INDEX orders_member ON orders (member_id, status, delivered_at, amount_cents, refunded_cents);

-- Which platform customer a member is: coupons for the member are created in that shop.
CREATE TABLE connector_customers (
    platform        TEXT NOT NULL CHECK (platform IN ('woocommerce', 'shopify')),
    customer_id     TEXT NOT NULL,
    member_id       TEXT NOT NULL REFERENCES members (member_id),
    email           TEXT,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (platform, customer_id)
);
CREATE UNIQUE INDEX connector_customers_member ON connector_customers (member_id);

-- Every webhook delivery received, once by the platform's delivery id; digest (a hash of the
-- body) catches the same content delivered again under a new id. outcome: processed, or
-- ignored with the reason (a guest order, another currency, an unknown topic...).
CREATE TABLE connector_deliveries (
    platform        TEXT NOT NULL,
    delivery_id     TEXT NOT NULL,
    topic           TEXT NOT NULL,
    digest          TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    reason          TEXT,
    received_at     TEXT NOT NULL,
    PRIMARY KEY (platform, delivery_id)
);
CREATE INDEX connector_deliveries_digest ON connector_deliveries (platform, digest);
CREATE INDEX connector_deliveries_received ON connector_deliveries (received_at);

-- Events for an order not known yet (a refund delivered before the order, whose own delivery
-- is being retried by the platform): kept, and applied once the order is placed.
CREATE TABLE connector_parked (
    event_id        TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL,
    body            TEXT NOT NULL,
    received_at     TEXT NOT NULL
);
CREATE INDEX connector_parked_order ON connector_parked (order_id);

-- A coupon's copy in the shop: NULL for a programme without a connected shop; else
-- 'pending' (queued), 'live' (the shop has it; shop_ref is its id there), 'removed'.
ALTER TABLE coupons ADD COLUMN shop_platform TEXT;
ALTER TABLE coupons ADD COLUMN shop_status TEXT
    CHECK (shop_status IS NULL OR shop_status IN ('pending', 'live', 'removed'));
ALTER TABLE coupons ADD COLUMN shop_ref TEXT;

-- The shop outbox: calls to a platform's API, queued in the transaction that needs them,
-- made by the sync job, retried with backoff until they succeed or are refused for good.
-- A coupon that the shop refused for good is reversed (its row deleted, its debit paid back);
-- its tasks are kept with the code as text.
CREATE TABLE shop_tasks (
    id              INTEGER PRIMARY KEY,
    platform        TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('create_coupon', 'delete_coupon')),
    code            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'done', 'refused', 'dropped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    due_at          TEXT NOT NULL,
    claimed_until   TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (kind, code)
);
CREATE INDEX shop_tasks_due ON shop_tasks (due_at) WHERE status = 'pending';

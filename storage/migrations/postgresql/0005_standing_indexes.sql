-- PostgreSQL twin of ../0005_standing_indexes.sql (the standing query from indexes alone).
DROP INDEX ledger_level;
CREATE INDEX ledger_level ON ledger (member_id, counted_at, level_points) WHERE level_points != 0;
DROP INDEX orders_member;
CREATE INDEX orders_member ON orders (member_id, status, delivered_at, amount_cents);

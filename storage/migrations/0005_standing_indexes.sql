-- The standing query (storage/members.py: every member view, and the level refresh after
-- every credit) reads its three aggregates from indexes alone. Before, each counted ledger
-- row and each delivered order cost a lookup into its table: for a member with two years of
-- daily check-ins and a few hundred orders, about 3.5 ms per read on the benchmark's store
-- (bench/README-engine.md). Each new index starts with the columns of the one it replaces,
-- so every query that used the old index can use the new one the same way.
-- Numbered 0005: 0004 is taken by the reminders branch.
DROP INDEX ledger_level;
CREATE INDEX ledger_level ON ledger (member_id, counted_at, level_points) WHERE level_points != 0;
DROP INDEX orders_member;
CREATE INDEX orders_member ON orders (member_id, status, delivered_at, amount_cents);

-- PostgreSQL twin of ../0010_ledger_occurred_at.sql: when the change happened in the shop
-- (NULL for rows the bot itself makes, and for rows written before this column).
ALTER TABLE ledger ADD COLUMN occurred_at timestamptz;

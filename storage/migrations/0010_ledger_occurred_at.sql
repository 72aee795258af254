-- When the change happened in the shop (an order's delivery, a return, a review), as the
-- shop's event says, beside created_at (when the bot processed it): /history and the member
-- card show this one, so an order delivered 20 days ago and imported today reads 20 days ago.
-- NULL for rows written before this column and for changes the bot itself makes (exchanges,
-- check-ins, grants): those happen when they are written.
-- Numbered 0010: reserved for the cli-polish branch.
ALTER TABLE ledger ADD COLUMN occurred_at TEXT;

-- Holds have a lifetime (storage/checkout.py: release_expired, every minute): the open holds
-- by age, without reading the released and captured ones.
CREATE INDEX holds_open_since ON holds (created_at) WHERE status = 'held';

-- A newer link token, or /unlink, revokes a member's earlier unused tokens; and tokens per
-- member per hour are counted (storage/links.py).
ALTER TABLE link_tokens ADD COLUMN revoked_at TEXT;
CREATE INDEX link_tokens_member ON link_tokens (member_id, created_at);

-- PostgreSQL twin of ../0011_holds_expiry_link_revocation.sql.
CREATE INDEX holds_open_since ON holds (created_at) WHERE status = 'held';

ALTER TABLE link_tokens ADD COLUMN revoked_at timestamptz;
CREATE INDEX link_tokens_member ON link_tokens (member_id, created_at);

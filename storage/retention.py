"""Retention: the tables that would grow forever are pruned by age, in small transactions.

- `idempotency`: the first answers to repeatable requests (shop event ids, exchange and grant
  keys). A request repeated after its key was pruned is treated as new; the money stays safe
  (ledger rows keep their own unique `idem_key`, an order's events follow its state), but a
  shop must not retry an event older than this. The default, 90 days, is far past any shop
  platform's retry window (WooCommerce and Shopify give up within days).
- `outbox`: settled notices (sent, skipped, failed), kept for support to look at.
- `telegram_updates`: update ids already taken; Telegram redelivers for at most 24 hours.
- expired `leases` and `conversation_state` rows, which mean nothing once expired.

Each table is deleted in batches of `batch` rows, one transaction each, so pruning a year of
keys never holds the write lock for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from storage import conversations, leases, outbox
from storage.db import Conn, to_db
from storage.store import Store

BATCH = 5_000


@dataclass(frozen=True)
class Retention:
    """How long each growing table keeps its rows ([retention] in the config)."""

    idempotency: timedelta = timedelta(days=90)
    outbox: timedelta = outbox.KEEP_SETTLED
    update_ids: timedelta = timedelta(days=2)


@dataclass(frozen=True)
class Pruned:
    """How many rows the retention job deleted, per table."""

    idempotency: int = 0
    outbox: int = 0
    update_ids: int = 0
    expired: int = 0  # leases and conversation state

    @property
    def total(self) -> int:
        """Return the rows deleted in all."""
        return self.idempotency + self.outbox + self.update_ids + self.expired


DEFAULT = Retention()


async def prune(store: Store, keep: Retention = DEFAULT, *, batch: int = BATCH) -> Pruned:
    """Delete what is older than `keep` allows (each batch its own transaction); say how much."""
    now = store.now()
    idempotency = await _in_batches(
        store,
        "DELETE FROM idempotency WHERE key IN"
        " (SELECT key FROM idempotency WHERE created_at < ? LIMIT ?)",
        to_db(now - keep.idempotency),
        batch,
    )
    settled = await outbox.prune(store, now - keep.outbox, batch=batch)
    update_ids = await _in_batches(
        store,
        "DELETE FROM telegram_updates WHERE update_id IN"
        " (SELECT update_id FROM telegram_updates WHERE received_at < ? LIMIT ?)",
        to_db(now - keep.update_ids),
        batch,
    )

    def expired(conn: Conn) -> int:
        return leases.prune_expired(conn, now) + conversations.prune_expired(conn, now)

    return Pruned(idempotency, settled, update_ids, await store.db.write(expired))


async def _in_batches(store: Store, sql: str, before: str, batch: int) -> int:
    total = 0

    def delete(conn: Conn) -> int:
        return max(conn.execute(sql, (before, batch)).rowcount, 0)

    while True:
        deleted = await store.db.write(delete)
        total += deleted
        if deleted < batch:
            return total

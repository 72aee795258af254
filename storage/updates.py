"""Telegram update ids already taken: a redelivered update is dropped, whichever worker gets it.

Telegram sends an update again when the webhook did not answer in time; behind a balancer the
repeat may reach another web worker, which would run the handlers a second time. The first
worker to record an update id takes it. Kept for [retention] update_ids_days (Telegram keeps
an unconfirmed update for 24 hours).
"""

from __future__ import annotations

from storage.db import Conn, to_db
from storage.store import Store


async def take(store: Store, update_id: int) -> bool:
    """Record that this worker takes update `update_id`; False if one already took it."""

    def insert(conn: Conn) -> bool:
        cursor = conn.execute(
            "INSERT INTO telegram_updates (update_id, received_at) VALUES (?, ?)"
            " ON CONFLICT (update_id) DO NOTHING",
            (update_id, to_db(store.now())),
        )
        return cursor.rowcount > 0

    return await store.db.write(insert)

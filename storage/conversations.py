"""Conversation state: what the bot is waiting for from a Telegram user, shared by every worker.

"Send me the order number" must be remembered by whichever web worker takes the member's next
message, so it lives here, not in one process's `user_data`. Each value expires: state nobody
came back to is forgotten (and pruned by the retention job).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.db import Conn, to_db
from storage.store import Store


async def remember(
    store: Store, telegram_user_id: int, key: str, value: str, keep: timedelta
) -> None:
    """Set `key` for a user to `value` for `keep` from now (replacing an earlier value)."""

    def put(conn: Conn) -> None:
        conn.execute(
            "INSERT INTO conversation_state (telegram_user_id, key, value, expires_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (telegram_user_id, key) DO UPDATE SET"
            " value = excluded.value, expires_at = excluded.expires_at",
            (telegram_user_id, key, value, to_db(store.now() + keep)),
        )

    await store.db.write(put)


async def recall(store: Store, telegram_user_id: int, key: str) -> str | None:
    """Return the user's unexpired value for `key`, or None."""
    row = await store.db.lookup_one(
        "SELECT value FROM conversation_state"
        " WHERE telegram_user_id = ? AND key = ? AND expires_at > ?",
        (telegram_user_id, key, to_db(store.now())),
    )
    return None if row is None else str(row[0])


async def forget(store: Store, telegram_user_id: int, key: str) -> None:
    """Drop the user's value for `key`, if any (a read first: no write when there is none)."""
    found = await store.db.lookup_one(
        "SELECT 1 FROM conversation_state WHERE telegram_user_id = ? AND key = ?",
        (telegram_user_id, key),
    )
    if found is None:
        return

    def drop(conn: Conn) -> None:
        conn.execute(
            "DELETE FROM conversation_state WHERE telegram_user_id = ? AND key = ?",
            (telegram_user_id, key),
        )

    await store.db.write(drop)


def prune_expired(conn: Conn, now: datetime) -> int:
    """Delete expired values (inside the caller's transaction); there are few at any time."""
    cursor = conn.execute("DELETE FROM conversation_state WHERE expires_at <= ?", (to_db(now),))
    return max(cursor.rowcount, 0)

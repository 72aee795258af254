"""Broadcasts: one message from the shop to every member who can and wants to get it.

A broadcast is queued into the outbox like any notice (kind `broadcast`, the "account news"
setting, behind members' answers and account notices), so the running service sends it at the
reminder pace, outside each member's quiet hours, silently where the member chose silent, and
never to a member who turned account news off, paused everything or blocked the bot. The
dedupe key holds the broadcast id: queueing the same broadcast again adds nobody twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from storage.db import Conn, to_db
from storage.errors import Invalid
from storage.outbox import PLANNED_PRIORITY
from storage.store import Store

MAX_TEXT = 3_500  # Telegram's 4,096 less room for the header, in case of HTML escapes
KIND = "broadcast"

# Linked members, with whether the sender would skip them (the claim's own rules).
_AUDIENCE = """
SELECT COUNT(*) AS linked,
    COALESCE(SUM(CASE WHEN COALESCE(u.unreachable, 0) = 0 AND COALESCE(u.reminders, 1) = 1
        AND COALESCE(u.remind_account, 'on') != 'off' THEN 1 ELSE 0 END), 0) AS reachable,
    COALESCE(SUM(CASE WHEN COALESCE(u.unreachable, 0) = 1 THEN 1 ELSE 0 END), 0) AS blocked
FROM telegram_links l
LEFT JOIN telegram_users u ON u.telegram_user_id = l.telegram_user_id
"""
_QUEUE = """
INSERT INTO outbox (member_id, kind, dedupe_key, payload, due_at, created_at, priority)
SELECT l.member_id, ?, ? || l.member_id, ?, ?, ?, ?
FROM telegram_links l
LEFT JOIN telegram_users u ON u.telegram_user_id = l.telegram_user_id
WHERE COALESCE(u.unreachable, 0) = 0 AND COALESCE(u.reminders, 1) = 1
    AND COALESCE(u.remind_account, 'on') != 'off'
ON CONFLICT (dedupe_key) DO NOTHING
"""


@dataclass(frozen=True)
class Audience:
    """Who a broadcast reaches now: linked members, how many of them it would be sent to."""

    linked: int
    reachable: int
    blocked: int

    @property
    def opted_out(self) -> int:
        """Linked and reachable, but account news off or everything paused."""
        return self.linked - self.reachable - self.blocked


def check_text(text: str) -> str:
    """Return the broadcast's text, or Invalid when it is empty or too long."""
    if not text.strip():
        raise Invalid("a broadcast needs a text")
    if len(text) > MAX_TEXT:
        raise Invalid(f"a broadcast is at most {MAX_TEXT} characters, this one is {len(text)}")
    return text.strip()


async def audience(store: Store) -> Audience:
    """Count who a broadcast would reach (a dry run: nothing is queued)."""
    row = await store.db.read_one(_AUDIENCE)
    assert row is not None
    return Audience(linked=row["linked"], reachable=row["reachable"], blocked=row["blocked"])


async def queue(store: Store, broadcast_id: str, text: str) -> int:
    """Queue the broadcast for everyone it reaches; return how many notices were added."""
    text = check_text(text)
    if not broadcast_id.strip():
        raise Invalid("a broadcast needs an id")
    now = to_db(store.now())
    payload = json.dumps({"text": text, "broadcast": broadcast_id}, separators=(",", ":"))
    key = f"{KIND}:{broadcast_id}:"

    def insert(conn: Conn) -> int:
        cursor = conn.execute(_QUEUE, (KIND, key, payload, now, now, PLANNED_PRIORITY))
        return cursor.rowcount

    return await store.db.write(insert)

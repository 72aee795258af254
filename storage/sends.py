"""The send queue: what the bot must still say to each chat, in order, until it is said.

Handlers queue a send in one transaction (`enqueue`) and return; a sender (`bot/sender.py`)
takes each chat's oldest pending row (`head`, which claims it for a lease so two senders never
talk to one chat at once), performs it, and settles it: `sent`, `retry` (the attempt failed,
the row stays at the head of its chat), or `failed` with the reason. Rows of one chat never
overtake each other, so a relayed conversation keeps its order; chats do not wait for each
other. Plain SQL with `?` placeholders only, so the queue moves to another database as is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.db import Conn, to_db
from storage.store import Store

KEEP_SETTLED = timedelta(days=30)  # sent and failed rows are kept this long, then pruned
MAX_ERROR = 300


@dataclass(frozen=True)
class Queued:
    """A send to queue with another change, in that change's transaction."""

    chat_id: int
    kind: str
    payload: dict[str, Any]
    dedupe_key: str | None = None


@dataclass(frozen=True)
class Send:
    """One queued send, as its chat's sender holds it."""

    id: int
    chat_id: int
    kind: str
    payload: dict[str, Any]
    ticket_id: int | None
    attempts: int


def enqueue_in(
    conn: Conn,
    chat_id: int,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    ticket_id: int | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Queue a send inside the caller's transaction; return its id (None: `dedupe_key` was
    queued before, nothing is queued again)."""
    row = conn.execute(
        "INSERT INTO sends (chat_id, kind, payload, ticket_id, dedupe_key, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id",
        (chat_id, kind, json.dumps(payload, separators=(",", ":")), ticket_id, dedupe_key,
         to_db(now)),
    ).fetchone()  # fmt: skip
    return int(row["id"]) if row is not None else None


async def enqueue(
    store: Store,
    chat_id: int,
    kind: str,
    payload: dict[str, Any],
    *,
    ticket_id: int | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Queue one send to `chat_id` behind the chat's earlier ones; return its id (None: the
    same `dedupe_key` was queued before)."""
    now = store.now()
    return await store.db.write(
        lambda conn: enqueue_in(
            conn, chat_id, kind, payload, now, ticket_id=ticket_id, dedupe_key=dedupe_key
        )
    )


async def waiting_chats(store: Store, claim_id: str, *, limit: int = 1_000) -> list[int]:
    """Return chats with pending sends whose oldest no other sender holds (this one's too)."""
    rows = await store.db.read(
        "SELECT s.chat_id FROM sends s WHERE s.status = 'pending'"
        " AND s.id = (SELECT MIN(h.id) FROM sends h"
        " WHERE h.chat_id = s.chat_id AND h.status = 'pending')"
        " AND (s.claimed_until IS NULL OR s.claimed_until <= ? OR s.claim_id = ?) LIMIT ?",
        (to_db(store.now()), claim_id, limit),
    )
    return [int(r["chat_id"]) for r in rows]


async def head(store: Store, chat_id: int, claim_id: str, lease: timedelta) -> Send | None:
    """Claim and return the oldest pending send of a chat; None if none, or another holds it."""
    now = store.now()

    def take(conn: Conn) -> Send | None:
        row = conn.execute(
            "SELECT id, kind, payload, ticket_id, attempts, claim_id, claimed_until FROM sends"
            " WHERE chat_id = ? AND status = 'pending' ORDER BY id LIMIT 1",
            (chat_id,),
        ).fetchone()
        if row is None:
            return None
        held = row["claimed_until"] is not None and row["claimed_until"] > to_db(now)
        if held and row["claim_id"] != claim_id:
            return None
        conn.execute(
            "UPDATE sends SET claim_id = ?, claimed_until = ? WHERE id = ?",
            (claim_id, to_db(now + lease), row["id"]),
        )
        return Send(
            id=row["id"],
            chat_id=chat_id,
            kind=row["kind"],
            payload=json.loads(row["payload"]),
            ticket_id=row["ticket_id"],
            attempts=row["attempts"],
        )

    return await store.db.write(take)


async def sent(store: Store, send_id: int, claim_id: str) -> None:
    """Settle a send Telegram took (its last attempt counted)."""
    await _settle(store, send_id, claim_id, "sent", None, 1)


async def failed(
    store: Store, send_id: int, claim_id: str, error: str, *, counted: bool = False
) -> None:
    """Settle a send that will never go out, keeping why; `counted`: `retry` counted the
    last attempt already."""
    await _settle(store, send_id, claim_id, "failed", error, 0 if counted else 1)


async def _settle(
    store: Store, send_id: int, claim_id: str, status: str, error: str | None, attempt: int
) -> None:
    now = to_db(store.now())

    def close(conn: Conn) -> None:
        conn.execute(
            "UPDATE sends SET status = ?, error = COALESCE(?, error), settled_at = ?,"
            " attempts = attempts + ?, claimed_until = NULL"
            " WHERE id = ? AND claim_id = ? AND status = 'pending'",
            (status, error and error[:MAX_ERROR], now, attempt, send_id, claim_id),
        )

    await store.db.write(close)


async def retry(store: Store, send_id: int, claim_id: str, error: str) -> int:
    """Count a failed attempt of a send that stays at its chat's head; return the attempts."""

    def count(conn: Conn) -> int:
        conn.execute(
            "UPDATE sends SET attempts = attempts + 1, error = ?"
            " WHERE id = ? AND claim_id = ? AND status = 'pending'",
            (error[:MAX_ERROR], send_id, claim_id),
        )
        row = conn.execute("SELECT attempts FROM sends WHERE id = ?", (send_id,)).fetchone()
        return int(row["attempts"]) if row else 0

    return await store.db.write(count)


async def release(store: Store, chat_id: int, claim_id: str) -> None:
    """Let go of a chat's pending sends (a sender stopping), for any sender to take."""

    def let_go(conn: Conn) -> None:
        conn.execute(
            "UPDATE sends SET claim_id = NULL, claimed_until = NULL"
            " WHERE chat_id = ? AND claim_id = ? AND status = 'pending'",
            (chat_id, claim_id),
        )

    await store.db.write(let_go)


async def pending_count(store: Store) -> int:
    """Return how many sends wait (all chats)."""
    row = await store.db.read_one("SELECT COUNT(*) FROM sends WHERE status = 'pending'")
    return int(row[0]) if row else 0


async def prune(store: Store, before: datetime) -> int:
    """Delete settled sends older than `before`; return how many."""

    def delete(conn: Conn) -> int:
        cursor = conn.execute(
            "DELETE FROM sends WHERE status != 'pending' AND settled_at < ?", (to_db(before),)
        )
        return max(cursor.rowcount, 0)

    return await store.db.write(delete)


async def send_rows(store: Store, chat_id: int | None = None) -> list[dict[str, Any]]:
    """Return queued sends (all, or one chat's), oldest first, as dicts (tests, support)."""
    rows = await store.db.read(
        "SELECT id, chat_id, kind, payload, ticket_id, status, attempts, error FROM sends"
        + (" WHERE chat_id = ?" if chat_id is not None else "")
        + " ORDER BY id",
        (chat_id,) if chat_id is not None else (),
    )
    return [dict(r) | {"payload": json.loads(r["payload"])} for r in rows]

"""The append-only ledger: every balance change is one row, written with the balance update."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from loyalty.program import Currency
from storage.db import from_db, to_db
from storage.store import Store

MAX_PAGE = 50


@dataclass(frozen=True)
class Posting:
    """The ledger row written and the balance it left."""

    ledger_id: int
    balance_after: int


@dataclass(frozen=True)
class Entry:
    """One ledger row as members and operators see it."""

    id: int
    currency: Currency
    amount: int
    balance_after: int
    reason: str
    ref: str | None
    note: str | None
    actor: str | None
    shortfall: int
    created_at: datetime


@dataclass(frozen=True)
class HistoryPage:
    """Ledger rows, newest first, and the cursor for the next (older) page."""

    entries: list[Entry]
    next_before_id: int | None


async def post(
    tx: aiosqlite.Connection,
    member_id: str,
    currency: Currency,
    amount: int,
    reason: str,
    now: datetime,
    *,
    ref: str | None = None,
    idem_key: str | None = None,
    level_points: int = 0,
    counted_at: datetime | None = None,
    shortfall: int = 0,
    actor: str | None = None,
    note: str | None = None,
) -> Posting:
    """Change a balance by `amount` and append its ledger row, inside the caller's transaction.

    The balance columns carry CHECK (>= 0): callers decide first, the constraint is the last
    line of defence, and a violation aborts the whole transaction.
    """
    column = "points" if currency == "points" else "coins"
    rows = await tx.execute_fetchall(
        f"UPDATE members SET {column} = {column} + ?, updated_at = ? "
        f"WHERE member_id = ? RETURNING {column}",
        (amount, to_db(now), member_id),
    )
    balance = next(iter(rows))[0]
    cursor = await tx.execute(
        "INSERT INTO ledger (member_id, currency, amount, balance_after, reason, ref, idem_key,"
        " level_points, counted_at, shortfall, actor, note, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            member_id,
            currency,
            amount,
            balance,
            reason,
            ref,
            idem_key,
            level_points,
            to_db(counted_at or now),
            shortfall,
            actor,
            note,
            to_db(now),
        ),
    )
    assert cursor.lastrowid is not None
    return Posting(ledger_id=cursor.lastrowid, balance_after=balance)


async def history(
    store: Store, member_id: str, *, before_id: int | None = None, limit: int = 10
) -> HistoryPage:
    """Return a page of a member's ledger, newest first, older than `before_id` if given."""
    limit = max(1, min(limit, MAX_PAGE))
    rows = await store.db.read(
        "SELECT id, currency, amount, balance_after, reason, ref, note, actor, shortfall,"
        " created_at FROM ledger WHERE member_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
        (member_id, before_id if before_id is not None else 2**62, limit + 1),
    )
    entries = [
        Entry(
            id=r["id"],
            currency=r["currency"],
            amount=r["amount"],
            balance_after=r["balance_after"],
            reason=r["reason"],
            ref=r["ref"],
            note=r["note"],
            actor=r["actor"],
            shortfall=r["shortfall"],
            created_at=from_db(r["created_at"]),
        )
        for r in rows
    ]
    more = len(entries) > limit
    entries = entries[:limit]
    return HistoryPage(entries=entries, next_before_id=entries[-1].id if more else None)

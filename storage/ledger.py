"""The append-only ledger: every balance change is one row, written with the balance update."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from loyalty.program import Currency
from storage.db import Conn, from_db, to_db
from storage.store import Store

MAX_PAGE = 50


@dataclass(frozen=True)
class Posting:
    """The ledger row written and the balance it left."""

    ledger_id: int
    balance_after: int


class Entry(NamedTuple):
    """One ledger row as members and operators see it."""

    # A NamedTuple, not a frozen dataclass: a /history page builds eleven, and a frozen
    # dataclass's __init__ (object.__setattr__ per field) took 5% of the whole update.
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
    # When it happened in the shop (the event's time); created_at for the bot's own changes.
    occurred_at: datetime
    # The value of the coupon this row paid for (or gave, for goodwill), else None.
    coupon_value_cents: int | None = None


@dataclass(frozen=True)
class HistoryPage:
    """Ledger rows, newest first, and the cursors for the older and the newer page.

    `next_before_id` is None on the oldest page, `newer_after_id` None on the newest.
    """

    entries: list[Entry]
    next_before_id: int | None
    newer_after_id: int | None = None


def post(
    conn: Conn,
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
    occurred_at: datetime | None = None,
) -> Posting:
    """Change a balance by `amount` and append its ledger row, inside the caller's transaction.

    The balance columns carry CHECK (>= 0): callers decide first, the constraint is the last
    line of defence, and a violation aborts the whole transaction.
    """
    column = "points" if currency == "points" else "coins"
    balance = conn.execute(
        f"UPDATE members SET {column} = {column} + ?, updated_at = ? "
        f"WHERE member_id = ? RETURNING {column}",
        (amount, to_db(now), member_id),
    ).fetchone()[0]
    ledger_id = conn.execute(
        "INSERT INTO ledger (member_id, currency, amount, balance_after, reason, ref, idem_key,"
        " level_points, counted_at, shortfall, actor, note, created_at, occurred_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
            to_db(occurred_at) if occurred_at is not None else None,
        ),
    ).fetchone()[0]
    return Posting(ledger_id=ledger_id, balance_after=balance)


# One read for a page in either direction. A "newer" request (after_id) is turned into the
# before_id of the page just above it: the (limit+1)-th of the member's rows after after_id,
# or the newest page when there are not that many, so paging back up always lands on the
# same pages as paging down. Every row, and the cursor itself, is the member's own.
_HISTORY_SQL = """
WITH cursor (before_id) AS (
    SELECT CASE WHEN CAST(:after AS BIGINT) IS NULL THEN CAST(:before AS BIGINT) ELSE COALESCE(
        (SELECT id FROM ledger WHERE member_id = :member AND id > :after
            ORDER BY id LIMIT 1 OFFSET :limit),
        :top) END
)
SELECT l.id, l.currency, l.amount, l.balance_after, l.reason, l.ref, l.note, l.actor,
    l.shortfall, l.created_at, COALESCE(l.occurred_at, l.created_at) AS occurred_at,
    c.value_cents AS coupon_value_cents,
    EXISTS (SELECT 1 FROM ledger WHERE member_id = :member
        AND id >= (SELECT before_id FROM cursor)) AS newer
FROM ledger l LEFT JOIN coupons c ON c.ledger_id = l.id
WHERE l.member_id = :member AND l.id < (SELECT before_id FROM cursor)
ORDER BY l.id DESC LIMIT :limit + 1
"""
_TOP = 2**62
# The newest page, the one /history opens on, needs no cursor, and nothing is newer than it.
_COLUMNS = _HISTORY_SQL[_HISTORY_SQL.index("SELECT l.id") : _HISTORY_SQL.index(",\n    EXISTS")]
_NEWEST_SQL = f"""
{_COLUMNS}, 0 AS newer
FROM ledger l LEFT JOIN coupons c ON c.ledger_id = l.id
WHERE l.member_id = :member
ORDER BY l.id DESC LIMIT :limit + 1
"""


async def _page_at(
    store: Store, member_id: str, before_id: int | None, after_id: int | None, limit: int
) -> list[Any]:
    """Read the rows of the page before `before_id` or just newer than `after_id`."""
    return await store.db.lookup(
        _HISTORY_SQL,
        {
            "member": member_id,
            "before": max(-1, min(before_id, _TOP)) if before_id is not None else _TOP,
            "after": max(-1, min(after_id, _TOP)) if after_id is not None else None,
            "limit": limit,
            "top": _TOP,
        },
    )


async def history(
    store: Store,
    member_id: str,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 10,
) -> HistoryPage:
    """Return a page of a member's ledger, newest first: older than `before_id`, or the page
    just newer than `after_id`, or the newest page; only ever the member's own rows."""
    limit = max(1, min(limit, MAX_PAGE))
    if before_id is None and after_id is None:
        rows = await store.db.lookup(_NEWEST_SQL, {"member": member_id, "limit": limit})
    else:
        rows = await _page_at(store, member_id, before_id, after_id, limit)
    # By position, in the SELECTs' column order (by name cost twice as much, eleven rows).
    entries = [
        Entry(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            from_db(r[9]),
            from_db(r[10]),
            r[11],
        )
        for r in rows
    ]
    more = len(entries) > limit
    newer = bool(rows[0]["newer"]) if rows else False
    entries = entries[:limit]
    return HistoryPage(
        entries=entries,
        next_before_id=entries[-1].id if more else None,
        newer_after_id=entries[0].id if newer and entries else None,
    )

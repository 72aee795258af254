"""Repair after `db check`: cached balances set back to what the ledger (and holds) say.

The ledger is the record of what happened; the cached `members.points`, `coins` and
`points_held` columns only speed up reads. When they drifted (a manual UPDATE, a bad restore),
they are recomputed from the ledger and the open holds, in one transaction. What the ledger
itself got wrong (a coupon without its debit, a broken running sum) is not guessed at: it is
left for a person, and `db check` keeps reporting it.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Conn, to_db
from storage.store import Store

_DRIFT = (
    ("points", """SELECT m.member_id, m.points, COALESCE(SUM(l.amount), 0) FROM members m
        LEFT JOIN ledger l ON l.member_id = m.member_id AND l.currency = 'points'
        GROUP BY m.member_id HAVING m.points != COALESCE(SUM(l.amount), 0)"""),
    ("coins", """SELECT m.member_id, m.coins, COALESCE(SUM(l.amount), 0) FROM members m
        LEFT JOIN ledger l ON l.member_id = m.member_id AND l.currency = 'coins'
        GROUP BY m.member_id HAVING m.coins != COALESCE(SUM(l.amount), 0)"""),
    ("points_held", """SELECT m.member_id, m.points_held, COALESCE(SUM(h.points), 0) FROM members m
        LEFT JOIN holds h ON h.member_id = m.member_id AND h.status = 'held'
        GROUP BY m.member_id HAVING m.points_held != COALESCE(SUM(h.points), 0)"""),
)  # fmt: skip
_SET = {
    "points": "UPDATE members SET points = ?, updated_at = ? WHERE member_id = ?",
    "coins": "UPDATE members SET coins = ?, updated_at = ? WHERE member_id = ?",
    "points_held": "UPDATE members SET points_held = ?, updated_at = ? WHERE member_id = ?",
}


@dataclass(frozen=True)
class Fix:
    """One cached value that differs from the ledger, and the value it gets."""

    member_id: str
    column: str
    stored: int
    ledger: int


def _drift(conn: Conn) -> list[Fix]:
    return [
        Fix(row[0], column, row[1], row[2])
        for column, sql in _DRIFT
        for row in conn.execute(sql).fetchall()
    ]


async def repair(store: Store, *, apply: bool) -> list[Fix]:
    """Return the cached balances that differ from the ledger; with `apply`, correct them."""
    now = to_db(store.now())

    def fix(conn: Conn) -> list[Fix]:
        found = _drift(conn)
        if apply:
            for item in found:
                conn.execute(_SET[item.column], (item.ledger, now, item.member_id))
        return found

    # One write transaction either way: what is reported is exactly what would be changed.
    return await store.db.write(fix)

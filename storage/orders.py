"""Orders as a member asks about them: status and what each earned or lost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import from_db
from storage.store import Store


@dataclass(frozen=True)
class OrderStatus:
    """One order of a member, with the points it earned and any taken back."""

    order_id: str
    status: str
    amount_cents: int
    placed_at: datetime
    delivered_at: datetime | None
    reviewed: bool
    points_earned: int
    points_taken_back: int


async def for_member(store: Store, member_id: str, order_id: str) -> OrderStatus | None:
    """Return the member's order with its points, or None (also for another member's order)."""
    row = await store.db.read_one(
        "SELECT o.*, COALESCE((SELECT SUM(amount) FROM ledger WHERE ref = o.order_id"
        "   AND member_id = o.member_id AND reason IN ('order', 'review', 'daily_purchase')), 0)"
        "   AS earned,"
        " COALESCE((SELECT -SUM(amount) FROM ledger WHERE ref = o.order_id"
        "   AND member_id = o.member_id AND reason = 'clawback'), 0) AS taken"
        " FROM orders o WHERE o.order_id = ? AND o.member_id = ?",
        (order_id, member_id),
    )
    if row is None:
        return None
    return OrderStatus(
        order_id=row["order_id"],
        status=row["status"],
        amount_cents=row["amount_cents"],
        placed_at=from_db(row["placed_at"]),
        delivered_at=from_db(row["delivered_at"]) if row["delivered_at"] else None,
        reviewed=bool(row["reviewed"]),
        points_earned=row["earned"],
        points_taken_back=row["taken"],
    )

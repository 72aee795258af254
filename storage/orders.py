"""Orders as a member asks about them: status, what each earned or lost, and what comes next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loyalty.earning import order_points, review_points
from storage.db import from_db
from storage.store import Store


@dataclass(frozen=True)
class OrderStatus:
    """One order of a member, with the points it earned, took back, held and would earn."""

    order_id: str
    status: str
    amount_cents: int
    placed_at: datetime
    delivered_at: datetime | None
    reviewed: bool
    points_earned: int
    points_taken_back: int
    # Earned points a take-back could not recover (the member had spent them).
    points_shortfall: int = 0
    # Checkout holds for this order: still held, given back, and spent on it.
    points_held: int = 0
    points_released: int = 0
    points_captured: int = 0
    # What the programme pays for delivering this order, and for reviewing it (0 once done).
    points_on_delivery: int = 0
    points_for_review: int = 0


async def for_member(store: Store, member_id: str, order_id: str) -> OrderStatus | None:
    """Return the member's order with its points, or None (also for another member's order)."""
    row = await store.db.read_one(
        "SELECT o.*, COALESCE((SELECT SUM(amount) FROM ledger WHERE ref = o.order_id"
        "   AND member_id = o.member_id AND reason IN ('order', 'review', 'daily_purchase')), 0)"
        "   AS earned,"
        " COALESCE((SELECT -SUM(amount) FROM ledger WHERE ref = o.order_id"
        "   AND member_id = o.member_id AND reason = 'clawback'), 0) AS taken,"
        " COALESCE((SELECT SUM(shortfall) FROM ledger WHERE ref = o.order_id"
        "   AND member_id = o.member_id AND reason = 'clawback'), 0) AS shortfall,"
        " COALESCE((SELECT SUM(CASE status WHEN 'held' THEN points END) FROM holds"
        "   WHERE order_id = o.order_id AND member_id = o.member_id), 0) AS held,"
        " COALESCE((SELECT SUM(CASE status WHEN 'released' THEN points END) FROM holds"
        "   WHERE order_id = o.order_id AND member_id = o.member_id), 0) AS released,"
        " COALESCE((SELECT SUM(CASE status WHEN 'captured' THEN points END) FROM holds"
        "   WHERE order_id = o.order_id AND member_id = o.member_id), 0) AS captured"
        " FROM orders o WHERE o.order_id = ? AND o.member_id = ?",
        (order_id, member_id),
    )
    if row is None:
        return None
    program, amount = store.program, row["amount_cents"]
    return OrderStatus(
        order_id=row["order_id"],
        status=row["status"],
        amount_cents=amount,
        placed_at=from_db(row["placed_at"]),
        delivered_at=from_db(row["delivered_at"]) if row["delivered_at"] else None,
        reviewed=bool(row["reviewed"]),
        points_earned=row["earned"],
        points_taken_back=row["taken"],
        points_shortfall=row["shortfall"],
        points_held=row["held"],
        points_released=row["released"],
        points_captured=row["captured"],
        points_on_delivery=order_points(program, amount),
        points_for_review=0 if row["reviewed"] else review_points(program, amount),
    )

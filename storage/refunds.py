"""Taking back what an order earned: a share for a partial refund, all of it for a full one.

These run inside the transaction of the event that asks for them (`storage.events`).
"""

from __future__ import annotations

from datetime import datetime

from loyalty.earning import refund_share
from storage import outbox
from storage.db import Conn, Row, from_db, to_db
from storage.ledger import post
from storage.store import Store

# What an order earns, and so what a refund or a return takes back.
EARNED_REASONS = ("order", "review", "daily_purchase")
REFUND_REASON = "refund_clawback"


def earned_credits(conn: Conn, order_id: str, member_id: str) -> list[Row]:
    """Return the order's earning credits (amount, counted_at, reason), oldest first."""
    return conn.execute(
        "SELECT amount, counted_at, reason FROM ledger WHERE ref = ? AND member_id = ?"
        " AND currency = 'points' AND reason IN (?, ?, ?) ORDER BY id",
        (order_id, member_id, *EARNED_REASONS),
    ).fetchall()


def already_taken(conn: Conn, order_id: str, member_id: str) -> int:
    """Return the level points partial refunds of the order have already taken back."""
    row = conn.execute(
        "SELECT COALESCE(SUM(level_points), 0) FROM ledger WHERE ref = ? AND member_id = ?"
        " AND reason = ?",
        (order_id, member_id, REFUND_REASON),
    ).fetchone()
    return -int(row[0])


def balance(conn: Conn, member_id: str) -> int:
    """Return a member's spendable points inside the transaction."""
    return int(
        conn.execute("SELECT points FROM members WHERE member_id = ?", (member_id,)).fetchone()[0]
    )


def take_share(
    conn: Conn, store: Store, order: Row, refunded_cents: int, refund_id: str
) -> tuple[int, int]:
    """Take back the share of the order's earnings that its refunds so far now cover.

    Cumulative: the share due for all refunds so far, minus what earlier refunds took, so a
    run of partial refunds adds up to exactly what one refund of their sum would take.
    Capped at the balance, the shortfall recorded; the level loses the whole share. Returns
    (taken, shortfall).
    """
    now = store.now()
    member_id, order_id = order["member_id"], order["order_id"]
    credits = earned_credits(conn, order_id, member_id)
    earned = sum(c["amount"] for c in credits)
    due = refund_share(earned, refunded_cents, order["amount_cents"])
    due -= already_taken(conn, order_id, member_id)
    if due <= 0:
        return 0, 0
    take = min(balance(conn, member_id), due)
    # Dated like the order's credit: a rolling window drops the credit and its refund together.
    counted = from_db(credits[0]["counted_at"]) if credits else now
    post(
        conn, member_id, "points", -take, REFUND_REASON, now,
        ref=order_id, level_points=-due, counted_at=counted, shortfall=due - take,
        note=refund_id,
    )  # fmt: skip
    outbox.notify(
        conn, member_id, "clawback", f"clawback:{order_id}:{refund_id}",
        {"order_id": order_id, "points": take, "shortfall": due - take, "status": "refunded"},
        now,
    )  # fmt: skip
    return take, due - take


def take_back_referral(conn: Conn, store: Store, order: Row) -> int:
    """Take back the referrer's bonus that this order, as the referee's first delivery, paid.

    Only a bonus recorded with the order it was paid for (the note of the credit) is taken
    back, once, capped at the referrer's balance with the shortfall recorded.
    """
    member_id, order_id = order["member_id"], order["order_id"]
    credit = conn.execute(
        "SELECT member_id, amount, counted_at FROM ledger WHERE idem_key = ? AND note = ?",
        (f"referral:{member_id}", order_id),
    ).fetchone()
    if credit is None:
        return 0
    key = f"referral_clawback:{member_id}"
    if conn.execute("SELECT 1 FROM ledger WHERE idem_key = ?", (key,)).fetchone():
        return 0
    referrer, amount = credit["member_id"], credit["amount"]
    take = min(balance(conn, referrer), amount)
    post(
        conn, referrer, "points", -take, "referral_clawback", store.now(),
        ref=member_id, idem_key=key, level_points=-amount,
        counted_at=from_db(credit["counted_at"]), shortfall=amount - take,
    )  # fmt: skip
    return take


def refund_captured(conn: Conn, store: Store, order_id: str) -> int:
    """Give back the points captured at checkout for an order cancelled or refunded in full.

    Each captured hold is paid back once (it becomes `released`); returns the points.
    """
    now = store.now()
    rows = conn.execute(
        "SELECT hold_id, member_id, points FROM holds WHERE order_id = ? AND status = 'captured'",
        (order_id,),
    ).fetchall()
    total = 0
    for row in rows:
        # Captured points already left points_held; only the balance gets them back.
        conn.execute(
            "UPDATE holds SET status = 'released', updated_at = ? WHERE hold_id = ?",
            (to_db(now), row["hold_id"]),
        )
        posting = post(
            conn, row["member_id"], "points", row["points"], "hold_refund", now,
            ref=row["hold_id"], note=order_id,
        )  # fmt: skip
        outbox.notify(
            conn, row["member_id"], "hold_released", f"hold_released:{row['hold_id']}",
            {"order_id": order_id, "points": row["points"], "balance": posting.balance_after},
            now,
        )  # fmt: skip
        total += row["points"]
    return total


def record(
    conn: Conn,
    refund_id: str,
    order_id: str,
    applied: int,
    requested: int,
    refunded_at: datetime,
    now: datetime,
) -> None:
    """Store a refund and add what it applies to the order's refunded amount."""
    conn.execute(
        "INSERT INTO refunds (refund_id, order_id, amount_cents, requested_cents, refunded_at,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (refund_id, order_id, applied, requested, to_db(refunded_at), to_db(now)),
    )
    conn.execute(
        "UPDATE orders SET refunded_cents = refunded_cents + ?, updated_at = ? WHERE order_id = ?",
        (applied, to_db(now), order_id),
    )

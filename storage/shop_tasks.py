"""The shop outbox: coupons created in (and removed from) the member's shop, never lost or doubled.

A coupon for a member who is a customer of a connected platform gets a `create_coupon` task in
the transaction that issues it; expiry and the burn add `delete_coupon` tasks in theirs. The
sync job claims due tasks (a lease, so two runs never make the same call at once), calls the
platform and settles each task: done, retried later with backoff (the platform is down, slow
or throttling: never given up), or refused for good, which reverses the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from loyalty.program import Currency
from storage import outbox
from storage.db import Conn, Row, from_db, to_db
from storage.ledger import post
from storage.store import Store

FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(minutes=10)  # a platform down for hours is tried every 10 minutes
LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class ShopTask:
    """A claimed call to make: the coupon's details and the customer it is for."""

    id: int
    platform: str
    kind: str
    code: str
    attempts: int
    member_id: str | None
    customer_id: str | None
    email: str | None
    value_cents: int
    issued_at: datetime | None
    expires_at: datetime | None
    shop_ref: str | None
    shop_status: str | None
    coupon_status: str | None  # None when the coupon is gone (reversed)


def backoff(attempts: int) -> timedelta:
    """Return how long to wait before the next try after `attempts` failed ones."""
    return min(MAX_RETRY, FIRST_RETRY * 2 ** max(0, attempts - 1))


def queue_create(conn: Conn, store: Store, member_id: str, code: str, now: datetime) -> bool:
    """Queue the shop's copy of a new coupon if the member is a connected shop's customer.

    Returns whether the coupon waits for the shop (the member is told the code once it is
    there). Only platforms that are switched on (`Store.shop_platforms`) take coupons.
    """
    if not store.shop_platforms:
        return False
    row = conn.execute(
        "SELECT platform FROM connector_customers WHERE member_id = ?", (member_id,)
    ).fetchone()
    if row is None or row["platform"] not in store.shop_platforms:
        return False
    conn.execute(
        "UPDATE coupons SET shop_platform = ?, shop_status = 'pending' WHERE code = ?",
        (row["platform"], code),
    )
    _insert(conn, row["platform"], "create_coupon", code, now)
    return True


def _insert(conn: Conn, platform: str, kind: str, code: str, now: datetime) -> None:
    conn.execute(
        "INSERT INTO shop_tasks (platform, kind, code, due_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, code) DO NOTHING",
        (platform, kind, code, to_db(now), to_db(now), to_db(now)),
    )


def queue_removals(conn: Conn, codes: list[str], now: datetime) -> int:
    """Queue the removal from the shop of coupons that expired or burned; return how many.

    A coupon whose creation has not been tried yet never reaches the shop (its task is
    dropped); one that is live, or being created right now, is deleted there.
    """
    queued = 0
    for code in codes:
        row = conn.execute(
            "SELECT shop_platform, shop_status FROM coupons WHERE code = ?", (code,)
        ).fetchone()
        if row is None or row["shop_status"] not in ("pending", "live"):
            continue
        dropped = conn.execute(
            "UPDATE shop_tasks SET status = 'dropped', updated_at = ? WHERE kind = 'create_coupon'"
            " AND code = ? AND status = 'pending' AND attempts = 0"
            " AND (claimed_until IS NULL OR claimed_until <= ?)",
            (to_db(now), code, to_db(now)),
        ).rowcount
        if dropped:
            conn.execute("UPDATE coupons SET shop_status = 'removed' WHERE code = ?", (code,))
            continue
        _insert(conn, row["shop_platform"], "delete_coupon", code, now)
        queued += 1
    return queued


_CLAIM_SQL = """
SELECT t.id, t.platform, t.kind, t.code, t.attempts, c.member_id, cc.customer_id,
    COALESCE(cc.email, m.email) AS email, COALESCE(c.value_cents, 0) AS value_cents,
    c.issued_at, c.expires_at, c.shop_ref, c.shop_status, c.status AS coupon_status
FROM shop_tasks t
LEFT JOIN coupons c ON c.code = t.code
LEFT JOIN members m ON m.member_id = c.member_id
LEFT JOIN connector_customers cc ON cc.member_id = c.member_id AND cc.platform = t.platform
WHERE t.status = 'pending' AND t.platform = ? AND t.due_at <= ?
    AND (t.claimed_until IS NULL OR t.claimed_until <= ?)
ORDER BY t.due_at, t.id LIMIT ?
"""


async def claim(store: Store, platform: str, *, limit: int = 50) -> list[ShopTask]:
    """Claim up to `limit` due tasks of a platform for the lease; oldest first."""

    def take(conn: Conn) -> list[ShopTask]:
        now = store.now()
        rows = conn.execute(_CLAIM_SQL, (platform, to_db(now), to_db(now), limit)).fetchall()
        if rows:
            conn.executemany(
                "UPDATE shop_tasks SET claimed_until = ?, updated_at = ? WHERE id = ?",
                [(to_db(now + LEASE), to_db(now), r["id"]) for r in rows],
            )
        return [_task(r) for r in rows]

    return await store.db.write(take)


def _task(row: Row) -> ShopTask:
    return ShopTask(
        id=row["id"],
        platform=row["platform"],
        kind=row["kind"],
        code=row["code"],
        attempts=row["attempts"],
        member_id=row["member_id"],
        customer_id=row["customer_id"],
        email=row["email"],
        value_cents=row["value_cents"],
        issued_at=from_db(row["issued_at"]) if row["issued_at"] else None,
        expires_at=from_db(row["expires_at"]) if row["expires_at"] else None,
        shop_ref=row["shop_ref"],
        shop_status=row["shop_status"],
        coupon_status=row["coupon_status"],
    )


def _close(conn: Conn, task_id: int, status: str, now: datetime, error: str | None = None) -> bool:
    cursor = conn.execute(
        "UPDATE shop_tasks SET status = ?, claimed_until = NULL, attempts = attempts + 1,"
        " last_error = COALESCE(?, last_error), updated_at = ? WHERE id = ? AND status = 'pending'",
        (status, error, to_db(now), task_id),
    )
    return cursor.rowcount > 0


async def created(store: Store, task: ShopTask, shop_ref: str) -> None:
    """The shop has the coupon: record its id there and send the member the code."""

    def settle(conn: Conn) -> None:
        now = store.now()
        if not _close(conn, task.id, "done", now):
            return
        row = conn.execute(
            "SELECT member_id, value_cents, expires_at, status FROM coupons WHERE code = ?",
            (task.code,),
        ).fetchone()
        if row is None:
            return
        removed = row["status"] != "active"
        conn.execute(
            "UPDATE coupons SET shop_status = ?, shop_ref = ? WHERE code = ?",
            ("live", shop_ref, task.code),
        )
        if removed:
            # It expired while the shop was creating it: take it out of the shop again.
            _insert(conn, task.platform, "delete_coupon", task.code, now)
            return
        outbox.notify(
            conn, row["member_id"], "coupon_ready", f"coupon_ready:{task.code}",
            {"code": task.code, "value_cents": row["value_cents"], "expires_at": row["expires_at"]},
            now,
        )  # fmt: skip

    await store.db.write(settle)


async def removed(store: Store, task: ShopTask) -> None:
    """The shop no longer has the coupon (deleted now, or already gone)."""

    def settle(conn: Conn) -> None:
        if _close(conn, task.id, "done", store.now()):
            conn.execute("UPDATE coupons SET shop_status = 'removed' WHERE code = ?", (task.code,))

    await store.db.write(settle)


async def dropped(store: Store, task: ShopTask) -> None:
    """Make no more tries: the coupon was reversed, used here, or expired before the shop
    had it (a removal task takes out whatever an earlier, unanswered try may have made)."""

    def settle(conn: Conn) -> None:
        if _close(conn, task.id, "dropped", store.now()):
            conn.execute(
                "UPDATE coupons SET shop_status = 'removed' WHERE code = ? AND shop_ref IS NULL",
                (task.code,),
            )

    await store.db.write(settle)


async def retry(
    store: Store, task: ShopTask, error: str, *, after: timedelta | None = None
) -> None:
    """Try the task again later (backoff, or `after` when the platform said how long)."""

    def later(conn: Conn) -> None:
        now = store.now()
        wait = after if after is not None else backoff(task.attempts + 1)
        conn.execute(
            "UPDATE shop_tasks SET attempts = attempts + 1, claimed_until = NULL, due_at = ?,"
            " last_error = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
            (to_db(now + wait), error[:300], to_db(now), task.id),
        )

    await store.db.write(later)


async def refused(store: Store, task: ShopTask, reason: str) -> dict[str, Any] | None:
    """The shop refused the coupon for good: undo the exchange and tell the member.

    The coupon is removed and what it cost is paid back, in one transaction with the task's
    end; a coupon used or gone meanwhile is left alone. Returns what was paid back.
    """

    def undo(conn: Conn) -> dict[str, Any] | None:
        now = store.now()
        if not _close(conn, task.id, "refused", now, reason[:300]):
            return None
        row = conn.execute(
            "SELECT member_id, value_cents, paid_with, cost, status FROM coupons WHERE code = ?",
            (task.code,),
        ).fetchone()
        if row is None or row["status"] != "active":
            return None
        conn.execute("DELETE FROM coupons WHERE code = ?", (task.code,))
        currency: Currency = "coins" if row["paid_with"] == "coins" else "points"
        post(
            conn, row["member_id"], currency, row["cost"], "coupon_reversed", now,
            ref=task.code, note=f"refused by {task.platform}: {reason}"[:200],
        )  # fmt: skip
        conn.execute(
            "UPDATE shop_tasks SET status = 'dropped', updated_at = ? WHERE code = ?"
            " AND status = 'pending'",
            (to_db(now), task.code),
        )
        back = {"code": task.code, "value_cents": row["value_cents"], "cost": row["cost"],
                "currency": currency}  # fmt: skip
        outbox.notify(conn, row["member_id"], "coupon_refused", f"coupon_refused:{task.code}",
                      back, now)  # fmt: skip
        return back

    return await store.db.write(undo)


async def tasks(store: Store) -> list[dict[str, Any]]:
    """Return every task (tests, support), oldest first."""
    rows = await store.db.read(
        "SELECT id, platform, kind, code, status, attempts, due_at, last_error FROM shop_tasks"
        " ORDER BY id"
    )
    return [dict(r) for r in rows]

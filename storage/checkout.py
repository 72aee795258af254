"""Paying part of an order with points: quote, hold, capture, release."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from loyalty import checkout as rules
from loyalty.levels import tier_for
from storage import outbox
from storage.db import Conn, Row, from_db, to_db
from storage.errors import Conflict, Invalid, NotFound, Refused
from storage.ledger import post
from storage.members import (
    check_addressable_id,
    check_member_id,
    read_standing,
    standing_from_row,
    standing_row,
)
from storage.store import Store

MAX_ORDER_CENTS = 100_000_000  # $1,000,000: anything above is a bug on the caller's side
MAX_HOLD_POINTS = 1_000_000_000
# How long points stay held when the shop neither captures nor releases them (the service
# takes `server.hold_minutes`): after it the hold is released, and a capture is refused.
DEFAULT_HOLD_LIFETIME = timedelta(days=1)
EXPIRE_BATCH = 500  # holds released per transaction by release_expired


@dataclass(frozen=True)
class Quote:
    """How many points a member may use on an order, and what they are worth."""

    member_id: str
    amount_cents: int
    max_points: int
    value_cents: int


@dataclass(frozen=True)
class Hold:
    """Points set aside for an order until it is paid (capture) or dropped (release)."""

    hold_id: str
    member_id: str
    order_id: str
    points: int
    status: str

    def to_dict(self) -> dict[str, object]:
        """Return the hold as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class HeldPoints:
    """An open hold and when it was placed (support's member card lists them)."""

    hold: Hold
    since: datetime


def check_amount(amount_cents: object) -> int:
    """Return a valid order amount in cents or raise Invalid."""
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise Invalid("amount_cents must be an integer number of cents")
    if not 0 < amount_cents <= MAX_ORDER_CENTS:
        raise Invalid(f"amount_cents must be between 1 and {MAX_ORDER_CENTS}")
    return amount_cents


async def quote(store: Store, member_id: str, amount_cents: int) -> Quote:
    """Return how many points the member may use on an order of `amount_cents`."""
    check_member_id(member_id)
    check_amount(amount_cents)
    row = await read_standing(store, member_id)
    return _quote(store, member_id, amount_cents, row["points"], row)


def _quote(store: Store, member_id: str, amount_cents: int, balance: int, row: Row) -> Quote:
    program = store.program
    tier = tier_for(program, standing_from_row(row))
    points = rules.max_points(program, tier, balance, amount_cents)
    return Quote(
        member_id=member_id,
        amount_cents=amount_cents,
        max_points=points,
        value_cents=points * program.point_value_cents,
    )


async def open_holds(store: Store, member_id: str, *, limit: int = 20) -> list[HeldPoints]:
    """Return a member's holds still waiting for capture or release, oldest first."""
    rows = await store.db.read(
        "SELECT hold_id, member_id, order_id, points, status, created_at FROM holds"
        " WHERE member_id = ? AND status = 'held' ORDER BY created_at LIMIT ?",
        (member_id, max(1, limit)),
    )
    return [
        HeldPoints(
            Hold(r["hold_id"], r["member_id"], r["order_id"], r["points"], r["status"]),
            from_db(r["created_at"]),
        )
        for r in rows
    ]


def _hold_row(conn: Conn, hold_id: str) -> Hold | None:
    row = conn.execute(
        "SELECT hold_id, member_id, order_id, points, status FROM holds WHERE hold_id = ?",
        (hold_id,),
    ).fetchone()
    return Hold(**dict(row)) if row else None


async def hold(
    store: Store,
    hold_id: str,
    member_id: str,
    order_id: str,
    points: int,
    *,
    amount_cents: int | None = None,
) -> tuple[Hold, bool]:
    """Set points aside for an order; return the hold and whether it is new.

    A repeat with the same hold_id and body returns the existing hold; another body is a Conflict.
    The points must not exceed the balance nor, when the order amount is known, the level's cap.
    """
    check_addressable_id(hold_id, "hold_id")
    check_member_id(member_id)
    check_member_id(order_id, "order_id")
    if not isinstance(points, int) or isinstance(points, bool) or not 0 < points <= MAX_HOLD_POINTS:
        raise Invalid(f"points must be an integer between 1 and {MAX_HOLD_POINTS}")
    if amount_cents is not None:
        check_amount(amount_cents)
    now = store.now()

    def set_aside(conn: Conn) -> tuple[Hold, bool]:
        existing = _hold_row(conn, hold_id)
        if existing is not None:
            if (existing.member_id, existing.order_id, existing.points) != (
                member_id,
                order_id,
                points,
            ):
                raise Conflict(
                    f"hold {hold_id!r} already exists with a different body",
                    code="idempotency_conflict",
                )
            return existing, False
        row = standing_row(conn, store, member_id)
        if not store.program.checkout.enabled:
            raise Refused("this programme does not let points pay at checkout", code="disabled")
        # Checked here as well as in the cap: without an order amount there is no cap check.
        if not tier_for(store.program, standing_from_row(row)).checkout:
            raise Refused("the member's level may not pay with points", code="level")
        order_amount = amount_cents
        if order_amount is None:
            order = conn.execute(
                "SELECT amount_cents FROM orders WHERE order_id = ? AND member_id = ?",
                (order_id, member_id),
            ).fetchone()
            order_amount = order[0] if order else None
        balance = row["points"]
        if points > balance:
            raise Refused(
                f"member has {balance} points, {points} requested",
                code="insufficient_points",
                balance=balance,
            )
        if order_amount is not None:
            allowed = _quote(store, member_id, order_amount, balance, row).max_points
            if points > allowed:
                raise Refused(
                    f"at most {allowed} points may pay this order",
                    code="over_cap",
                    max_points=allowed,
                )
        post(conn, member_id, "points", -points, "hold", now, ref=hold_id, note=order_id)
        conn.execute(
            "UPDATE members SET points_held = points_held + ? WHERE member_id = ?",
            (points, member_id),
        )
        conn.execute(
            "INSERT INTO holds (hold_id, member_id, order_id, points, status, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, 'held', ?, ?)",
            (hold_id, member_id, order_id, points, to_db(now), to_db(now)),
        )
        return Hold(hold_id, member_id, order_id, points, "held"), True

    return await store.db.write(set_aside)


async def capture(store: Store, hold_id: str, lifetime: timedelta = DEFAULT_HOLD_LIFETIME) -> Hold:
    """Mark held points as spent on the paid order; repeating it is harmless.

    A hold older than `lifetime` is refused, Conflict `hold_expired`, and changes nothing, like
    every refusal: `release_expired` (the scheduler, every minute) gives its points back.
    """
    now = store.now()

    def spend(conn: Conn) -> Hold:
        found = _hold_row(conn, hold_id)
        if found is None:
            raise NotFound(f"unknown hold {hold_id!r}")
        if found.status == "held" and _held_since(conn, hold_id) <= now - lifetime:
            raise Conflict(
                f"hold {hold_id!r} is older than {lifetime}: it is released, not captured",
                code="hold_expired",
            )
        if found.status == "released":
            raise Conflict(f"hold {hold_id!r} was released; it cannot be captured")
        if found.status == "held":
            _set_status(conn, found, "captured", to_db(now))
        return Hold(found.hold_id, found.member_id, found.order_id, found.points, "captured")

    return await store.db.write(spend)


def _held_since(conn: Conn, hold_id: str) -> datetime:
    row = conn.execute("SELECT created_at FROM holds WHERE hold_id = ?", (hold_id,)).fetchone()
    return from_db(row[0])


async def release_expired(store: Store, lifetime: timedelta = DEFAULT_HOLD_LIFETIME) -> int:
    """Release every hold placed more than `lifetime` ago and still held; return how many.

    In batches of EXPIRE_BATCH, one transaction each, so the write lock is never held long.
    """

    def give_back(conn: Conn) -> int:
        rows = conn.execute(
            "SELECT hold_id, member_id, order_id, points, status FROM holds"
            " WHERE status = 'held' AND created_at <= ? ORDER BY created_at LIMIT ?",
            (to_db(store.now() - lifetime), EXPIRE_BATCH),
        ).fetchall()
        for row in rows:
            release_in(conn, store, Hold(**dict(row)))
        return len(rows)

    total = 0
    while True:
        released = await store.db.write(give_back)
        total += released
        if released < EXPIRE_BATCH:
            return total


async def release(store: Store, hold_id: str) -> Hold:
    """Give held points back, exactly once however often it is repeated."""

    def give_back(conn: Conn) -> Hold:
        found = _hold_row(conn, hold_id)
        if found is None:
            raise NotFound(f"unknown hold {hold_id!r}")
        if found.status == "captured":
            raise Conflict(f"hold {hold_id!r} was captured; it cannot be released")
        if found.status == "held":
            release_in(conn, store, found)
        return Hold(found.hold_id, found.member_id, found.order_id, found.points, "released")

    return await store.db.write(give_back)


def release_in(conn: Conn, store: Store, found: Hold) -> None:
    """Release a held hold inside the caller's transaction and tell the member."""
    now = store.now()
    _set_status(conn, found, "released", to_db(now))
    posting = post(
        conn, found.member_id, "points", found.points, "hold_release", now,
        ref=found.hold_id, note=found.order_id,
    )  # fmt: skip
    outbox.notify(
        conn,
        found.member_id,
        "hold_released",
        f"hold_released:{found.hold_id}",
        {"order_id": found.order_id, "points": found.points, "balance": posting.balance_after},
        now,
    )


def release_for_order(conn: Conn, store: Store, order_id: str) -> int:
    """Release every open hold of a cancelled order; return the points given back."""
    rows = conn.execute(
        "SELECT hold_id, member_id, order_id, points, status FROM holds"
        " WHERE order_id = ? AND status = 'held'",
        (order_id,),
    ).fetchall()
    total = 0
    for row in rows:
        found = Hold(**dict(row))
        release_in(conn, store, found)
        total += found.points
    return total


def _set_status(conn: Conn, found: Hold, status: str, now: str) -> None:
    conn.execute(
        "UPDATE holds SET status = ?, updated_at = ? WHERE hold_id = ?",
        (status, now, found.hold_id),
    )
    conn.execute(
        "UPDATE members SET points_held = points_held - ? WHERE member_id = ?",
        (found.points, found.member_id),
    )

"""Shop events: validated, applied once by event id, each in one transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from loyalty.calendar import programme_day
from loyalty.earning import order_points, review_points
from storage import outbox, refunds
from storage.checkout import MAX_ORDER_CENTS, release_for_order
from storage.db import Conn, Row, from_db, to_db
from storage.errors import Conflict, Invalid, NotFound
from storage.idempotency import fingerprint, recall, remember
from storage.ledger import post
from storage.members import (
    MAX_ID_LENGTH,
    LevelChange,
    credit_earning,
    refresh_level,
    standing_row,
    upsert_in,
    verify_email_in,
)
from storage.store import Store

# How far in the future an event may claim to have happened (clock skew between systems).
MAX_CLOCK_SKEW = timedelta(hours=1)
# The earliest time an event may claim: older is a bug on the caller's side, and instants near
# year 1 cannot even be converted between time zones.
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)

EVENT_FIELDS: dict[str, dict[str, tuple[str, int, bool]]] = {
    # field: (kind, max length or amount, required); kind is "string", "email", "cents" or
    # "member_id" (a string without "/", see ADDRESSABLE_ID_PATTERN)
    "member.upserted": {
        "member_id": ("member_id", MAX_ID_LENGTH, True),
        "email": ("email", 254, False),
        "name": ("string", 200, False),
        "language": ("string", 16, False),
        "referred_by": ("member_id", MAX_ID_LENGTH, False),
    },
    "member.email_verified": {"member_id": ("member_id", MAX_ID_LENGTH, True)},
    "order.placed": {
        "order_id": ("string", MAX_ID_LENGTH, True),
        "member_id": ("member_id", MAX_ID_LENGTH, True),
        "amount_cents": ("cents", MAX_ORDER_CENTS, True),
    },
    **{
        f"order.{name}": {"order_id": ("string", MAX_ID_LENGTH, True)}
        for name in ("paid", "delivered", "returned", "not_delivered", "cancelled")
    },
    "order.refunded": {
        "order_id": ("string", MAX_ID_LENGTH, True),
        "refund_id": ("string", MAX_ID_LENGTH, True),
        "amount_cents": ("cents", MAX_ORDER_CENTS, True),
    },
    "review.submitted": {"order_id": ("string", MAX_ID_LENGTH, True)},
}
EVENT_TYPES = tuple(EVENT_FIELDS)


@dataclass(frozen=True)
class ShopEvent:
    """A validated shop event."""

    id: str
    type: str
    occurred_at: datetime
    data: Mapping[str, Any]
    body: Mapping[str, Any] = field(repr=False, default_factory=dict)


def parse_event(body: object, now: datetime) -> ShopEvent:
    """Validate a raw event object; raise Invalid listing every problem."""
    problems: list[str] = []
    if not isinstance(body, Mapping):
        raise Invalid("an event must be a JSON object", details=["body: must be a JSON object"])
    for key in body:
        if key not in ("id", "type", "occurred_at", "data"):
            problems.append(f"{key}: unknown field")
    event_id = body.get("id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > MAX_ID_LENGTH:
        problems.append(f"id: required, a non-empty string of at most {MAX_ID_LENGTH} characters")
    event_type = body.get("type")
    if not isinstance(event_type, str) or event_type not in EVENT_FIELDS:
        # Only a string is looked up: a JSON object or list is not even hashable.
        shown = repr(event_type) if isinstance(event_type, str | None) else "(not a string)"
        problems.append(f"type: unknown event type {shown}; one of {', '.join(EVENT_TYPES)}")
        event_type = None
    occurred_at = _parse_instant(body.get("occurred_at"), now, problems)
    data = body.get("data")
    if not isinstance(data, Mapping):
        problems.append("data: required, a JSON object")
    elif event_type in EVENT_FIELDS:
        _check_data(EVENT_FIELDS[str(event_type)], data, problems)
    if problems:
        raise Invalid(f"invalid event: {problems[0]}", details=problems)
    assert occurred_at is not None and isinstance(data, Mapping)
    return ShopEvent(str(event_id), str(event_type), occurred_at, data, body)


def _parse_instant(raw: object, now: datetime, problems: list[str]) -> datetime | None:
    if not isinstance(raw, str):
        problems.append("occurred_at: required, an ISO 8601 time with an offset")
        return None
    try:
        instant = datetime.fromisoformat(raw)
    except ValueError:
        problems.append(f"occurred_at: {raw!r} is not an ISO 8601 time")
        return None
    if instant.tzinfo is None:
        problems.append("occurred_at: needs a UTC offset, e.g. 2026-06-20T10:00:00+08:00")
        return None
    if instant > now + MAX_CLOCK_SKEW:
        problems.append("occurred_at: is in the future")
        return None
    if instant < EARLIEST_EVENT:
        problems.append(f"occurred_at: before {EARLIEST_EVENT.date().isoformat()}")
        return None
    return instant


def _check_data(
    fields: dict[str, tuple[str, int, bool]], data: Mapping[str, Any], problems: list[str]
) -> None:
    for key in data:
        if key not in fields:
            problems.append(f"data.{key}: unknown field")
    for key, (kind, limit, required) in fields.items():
        value = data.get(key)
        if value is None:
            if required:
                problems.append(f"data.{key}: required")
            continue
        if kind == "cents":
            if not isinstance(value, int) or isinstance(value, bool):
                problems.append(f"data.{key}: must be an integer number of cents")
            elif not 0 <= value <= limit:
                problems.append(f"data.{key}: must be between 0 and {limit}")
        elif not isinstance(value, str) or not value.strip():
            problems.append(f"data.{key}: must be a non-empty string")
        elif len(value) > limit:
            problems.append(f"data.{key}: longer than {limit} characters")
        elif kind == "email" and "@" not in value:
            problems.append(f"data.{key}: not an e-mail address")
        elif kind == "member_id" and "/" in value:
            problems.append(f'data.{key}: must not contain "/" (the API could not address it)')


async def apply_event(store: Store, body: object) -> dict[str, Any]:
    """Apply one shop event once: a repeat of the same id and body answers `duplicate`.

    The same id with another body is a Conflict. An event naming an unknown member or order,
    or an order in a state the event cannot follow, changes nothing and raises.
    """
    event = parse_event(body, store.now())

    def apply(conn: Conn) -> dict[str, Any]:
        return apply_in(conn, store, event)

    return await store.db.write(apply)


def apply_in(
    conn: Conn, store: Store, event: ShopEvent, *, first_wins: bool = False
) -> dict[str, Any]:
    """Apply a parsed event inside the caller's transaction (connectors apply several).

    With `first_wins` (connectors: the id names a fact, a later snapshot may describe it with
    other details) a known id is a duplicate whatever its body; else another body conflicts.
    """
    print_ = fingerprint(event.body)
    key = f"event:{event.id}"
    if first_wins:
        known = conn.execute("SELECT response FROM idempotency WHERE key = ?", (key,)).fetchone()
        if known is not None:
            return {**json.loads(known[0]), "status": "duplicate"}
    first = recall(conn, key, print_)
    if first is not None:
        return {**first, "status": "duplicate"}
    outcome = _HANDLERS[event.type](conn, store, event)
    result = {"status": "processed", "event_id": event.id, "type": event.type, **outcome}
    remember(conn, key, print_, result, store.now())
    return result


Outcome = dict[str, Any]


def _changes(*changes: LevelChange | None) -> list[dict[str, Any]]:
    return [
        {"member_id": c.member_id, "from": c.old_code, "to": c.new_code}
        for c in changes
        if c is not None
    ]


def _member_upserted(conn: Conn, store: Store, event: ShopEvent) -> Outcome:
    d = event.data
    result = upsert_in(
        conn, store, d["member_id"], email=d.get("email"), name=d.get("name"),
        language=d.get("language"), referred_by=d.get("referred_by"),
    )  # fmt: skip
    return {"member_id": result.member_id, "created": result.created,
            "level_changes": _changes(*result.level_changes)}  # fmt: skip


def _email_verified(conn: Conn, store: Store, event: ShopEvent) -> Outcome:
    member_id = event.data["member_id"]
    changes = verify_email_in(conn, store, member_id)
    return {"member_id": member_id, "level_changes": _changes(*changes)}


def _order(conn: Conn, order_id: str) -> Row:
    row = conn.execute(
        "SELECT o.*, m.referred_by FROM orders o JOIN members m USING (member_id)"
        " WHERE o.order_id = ?",
        (order_id,),
    ).fetchone()
    if row is None:
        raise NotFound(f"unknown order {order_id!r}", order_id=order_id)
    return row


def _set_order(conn: Conn, order_id: str, status: str, now: datetime, **extra: Any) -> None:
    sets = ", ".join(f"{column} = ?" for column in extra)
    conn.execute(
        f"UPDATE orders SET status = ?, updated_at = ?{', ' + sets if sets else ''}"
        " WHERE order_id = ?",
        (status, to_db(now), *extra.values(), order_id),
    )


def _order_placed(conn: Conn, store: Store, event: ShopEvent) -> Outcome:
    d = event.data
    order_id, member_id, amount = d["order_id"], d["member_id"], d["amount_cents"]
    standing_row(conn, store, member_id)  # NotFound for an unknown member
    existing = conn.execute(
        "SELECT member_id, amount_cents FROM orders WHERE order_id = ?", (order_id,)
    ).fetchone()
    if existing is not None:
        if (existing["member_id"], existing["amount_cents"]) != (member_id, amount):
            raise Conflict(f"order {order_id!r} already exists with another member or amount")
        return {"order_id": order_id, "member_id": member_id, "changed": False}
    now = store.now()
    conn.execute(
        "INSERT INTO orders (order_id, member_id, amount_cents, status, placed_at, updated_at)"
        " VALUES (?, ?, ?, 'placed', ?, ?)",
        (order_id, member_id, amount, to_db(event.occurred_at), to_db(now)),
    )
    return {"order_id": order_id, "member_id": member_id, "changed": True}


def _order_paid(conn: Conn, store: Store, event: ShopEvent) -> Outcome:
    order = _order(conn, event.data["order_id"])
    # Payment earns nothing by itself; it may arrive after delivery, so it only sets a flag.
    status = "paid" if order["status"] == "placed" else order["status"]
    _set_order(conn, order["order_id"], status, store.now(), paid=1)
    return {"order_id": order["order_id"], "member_id": order["member_id"], "order_status": status}


def _order_delivered(conn: Conn, store: Store, event: ShopEvent) -> Outcome:
    order = _order(conn, event.data["order_id"])
    member_id, order_id, amount = order["member_id"], order["order_id"], order["amount_cents"]
    out: Outcome = {"order_id": order_id, "member_id": member_id, "credited": []}
    if order["status"] == "delivered":
        return {**out, "order_status": "delivered", "changed": False}
    if order["status"] not in ("placed", "paid"):
        raise Conflict(f"order {order_id!r} is {order['status']}; it cannot be delivered")
    now, program, earning = store.now(), store.program, store.program.earning
    delivered_at = event.occurred_at
    _set_order(conn, order_id, "delivered", now, delivered_at=to_db(delivered_at))
    credited = []
    points = credit_earning(
        conn, member_id, order_points(program, amount), "order", now,
        ref=order_id, idem_key=f"order:{order_id}", counted_at=delivered_at,
    )  # fmt: skip
    if points:
        credited.append({"member_id": member_id, "points": points, "reason": "order"})
    # Daily purchases: once per programme day with a delivered order that itself qualifies.
    day = programme_day(program, delivered_at).isoformat()
    daily_key = f"daily_purchase:{member_id}:{day}"
    if earning.daily_purchase_points and amount > earning.order_min_cents:
        seen = conn.execute("SELECT 1 FROM ledger WHERE idem_key = ?", (daily_key,)).fetchone()
        if not seen:
            credit_earning(
                conn, member_id, earning.daily_purchase_points, "daily_purchase", now,
                ref=order_id, idem_key=daily_key, counted_at=delivered_at,
            )  # fmt: skip
            credited.append(
                {"member_id": member_id, "points": earning.daily_purchase_points,
                 "reason": "daily_purchase"}
            )  # fmt: skip
    referrer = order["referred_by"]
    referrer_change = None
    if referrer and earning.referrer_on == "first_delivery" and earning.referrer_points:
        referral_key = f"referral:{member_id}"
        seen = conn.execute("SELECT 1 FROM ledger WHERE idem_key = ?", (referral_key,)).fetchone()
        if not seen:
            # The note names the order: a full refund of it takes the bonus back.
            credit_earning(
                conn, referrer, earning.referrer_points, "referral", now,
                ref=member_id, idem_key=referral_key, note=order_id,
            )  # fmt: skip
            credited.append(
                {"member_id": referrer, "points": earning.referrer_points, "reason": "referral"}
            )
            referrer_change = refresh_level(conn, store, referrer, now)
    if order["refunded_cents"]:
        # Refunded in part before delivery: the share is taken back now, as it would be after.
        refunds.take_share(conn, store, order, order["refunded_cents"], "before_delivery")
    change = refresh_level(conn, store, member_id, now)
    total = sum(c["points"] for c in credited if c["member_id"] == member_id)
    if total:
        outbox.notify(
            conn, member_id, "order_points", f"order_points:{order_id}",
            {"order_id": order_id, "points": total}, now,
        )  # fmt: skip
    return {**out, "order_status": "delivered", "changed": True, "credited": credited,
            "level_changes": _changes(change, referrer_change)}  # fmt: skip


def _take_back(
    conn: Conn, store: Store, order: Row, status: str, *, told: str | None = None
) -> Outcome:
    """Reverse every point an order earned, capped at the balance; record any shortfall.

    `told` is what the member's notice says happened (default: the new status).
    """
    now = store.now()
    member_id, order_id = order["member_id"], order["order_id"]
    _set_order(conn, order_id, status, now)
    credits = refunds.earned_credits(conn, order_id, member_id)
    balance = refunds.balance(conn, member_id)
    # Partial refunds already took part of it: only the rest is left to take back.
    before = refunds.already_taken(conn, order_id, member_id)
    taken = shortfall = 0
    for credit in credits:
        amount = credit["amount"]
        covered = min(before, amount)
        before -= covered
        amount -= covered
        if amount <= 0:
            continue
        take = min(balance, amount)
        # The level loses the whole credit even when the balance cannot cover it; the row is
        # dated like the credit so that a rolling window drops both at the same moment.
        post(
            conn, member_id, "points", -take, "clawback", now,
            ref=order_id, level_points=-amount, counted_at=from_db(credit["counted_at"]),
            shortfall=amount - take, note=credit["reason"],
        )  # fmt: skip
        balance -= take
        taken += take
        shortfall += amount - take
    # An order that ends up earning nothing did not earn the referrer's bonus either.
    referral = refunds.take_back_referral(conn, store, order)
    change = refresh_level(conn, store, member_id, now)
    if taken or shortfall:
        outbox.notify(
            conn, member_id, "clawback", f"clawback:{order_id}",
            {"order_id": order_id, "points": taken, "shortfall": shortfall,
             "status": told or status},
            now,
        )  # fmt: skip
    return {
        "order_id": order_id,
        "member_id": member_id,
        "order_status": status,
        "taken_back": taken,
        "shortfall": shortfall,
        "referral_taken_back": referral,
        "level_changes": _changes(change),
    }


def _order_returned(conn: Conn, store: Store, event: ShopEvent) -> Outcome:
    order = _order(conn, event.data["order_id"])
    if order["status"] == "returned":
        return {"order_id": order["order_id"], "order_status": "returned", "changed": False}
    if order["status"] != "delivered":
        raise Conflict(
            f"order {order['order_id']!r} is {order['status']}; only a delivered order is returned"
        )
    return _take_back(conn, store, order, "returned")


def _order_not_delivered(conn: Conn, store: Store, event: ShopEvent) -> Outcome:
    order = _order(conn, event.data["order_id"])
    status = order["status"]
    if status == "not_delivered":
        return {"order_id": order["order_id"], "order_status": status, "changed": False}
    if status == "delivered":  # a delivery later disputed: what it earned goes back
        return _take_back(conn, store, order, "not_delivered")
    if status not in ("placed", "paid"):
        raise Conflict(f"order {order['order_id']!r} is {status}; it cannot be undelivered")
    _set_order(conn, order["order_id"], "not_delivered", store.now())
    return {"order_id": order["order_id"], "order_status": "not_delivered", "taken_back": 0}


def _order_cancelled(conn: Conn, store: Store, event: ShopEvent) -> Outcome:
    order = _order(conn, event.data["order_id"])
    status = order["status"]
    if status == "cancelled":
        return {"order_id": order["order_id"], "order_status": status, "changed": False}
    if status not in ("placed", "paid"):
        raise Conflict(f"order {order['order_id']!r} is {status}; it cannot be cancelled")
    return _cancel(conn, store, order)


def _cancel(conn: Conn, store: Store, order: Row) -> Outcome:
    _set_order(conn, order["order_id"], "cancelled", store.now())
    # "Delete your unpaid order and the system returns your used Bonus Points": held points
    # are released, and points already captured at checkout are paid back.
    released = release_for_order(conn, store, order["order_id"])
    released += refunds.refund_captured(conn, store, order["order_id"])
    return {"order_id": order["order_id"], "member_id": order["member_id"],
            "order_status": "cancelled", "released_points": released}  # fmt: skip


def _order_refunded(conn: Conn, store: Store, event: ShopEvent) -> Outcome:
    """A refund, once by refund id: a share of what the order earned, or all of it."""
    d = event.data
    order = _order(conn, d["order_id"])
    order_id, refund_id, requested = order["order_id"], d["refund_id"], d["amount_cents"]
    out: Outcome = {"order_id": order_id, "member_id": order["member_id"], "refund_id": refund_id}
    seen = conn.execute(
        "SELECT order_id, requested_cents, amount_cents FROM refunds WHERE refund_id = ?",
        (refund_id,),
    ).fetchone()
    if seen is not None:
        if (seen["order_id"], seen["requested_cents"]) != (order_id, requested):
            raise Conflict(f"refund {refund_id!r} already exists with another order or amount")
        return {**out, "order_status": order["status"], "changed": False}
    status, amount = order["status"], order["amount_cents"]
    # A refund larger than what is left (shipping, taxes) counts up to the order's amount.
    applied = 0 if status in ORDER_ENDED else min(requested, amount - order["refunded_cents"])
    now = store.now()
    refunds.record(conn, refund_id, order_id, applied, requested, event.occurred_at, now)
    refunded = order["refunded_cents"] + applied
    full = applied > 0 and refunded >= amount
    out = {**out, "refunded_cents": refunded, "full": full, "changed": True}
    if status in ORDER_ENDED or not applied:
        return {**out, "order_status": status, "taken_back": 0}
    if status != "delivered":
        # Nothing earned yet: a partial refund lowers what delivery will keep; a full one ends it.
        return {**out, **_cancel(conn, store, order)} if full else {**out, "order_status": status}
    if full:
        back = _take_back(conn, store, order, "returned", told="refunded")
        back["released_points"] = refunds.refund_captured(conn, store, order_id)
        return {**out, **back}
    taken, shortfall = refunds.take_share(conn, store, order, refunded, refund_id)
    change = refresh_level(conn, store, order["member_id"], now)
    return {**out, "order_status": status, "taken_back": taken, "shortfall": shortfall,
            "level_changes": _changes(change)}  # fmt: skip


# Orders that never earn again: a review of one is answered, once and for all, "not_earned";
# a refund of one is recorded and applied as zero.
ORDER_ENDED = ("returned", "not_delivered", "cancelled")


def _review_submitted(conn: Conn, store: Store, event: ShopEvent) -> Outcome:
    order = _order(conn, event.data["order_id"])
    order_id, member_id = order["order_id"], order["member_id"]
    if order["status"] in ORDER_ENDED:
        # Final: the order will never earn again, so a shop that retries gets the same 200
        # (remembered by event id) instead of a 409 for ever.
        return {"order_id": order_id, "member_id": member_id, "points": 0, "changed": False,
                "review": "not_earned", "order_status": order["status"]}  # fmt: skip
    if order["status"] != "delivered":
        raise Conflict(
            f"order {order_id!r} is {order['status']}; only delivered orders earn reviews"
        )
    if order["reviewed"]:
        return {"order_id": order_id, "member_id": member_id, "points": 0, "changed": False}
    now = store.now()
    conn.execute(
        "UPDATE orders SET reviewed = 1, updated_at = ? WHERE order_id = ?", (to_db(now), order_id)
    )
    points = credit_earning(
        conn, member_id, review_points(store.program, order["amount_cents"]), "review", now,
        ref=order_id, idem_key=f"review:{order_id}", counted_at=event.occurred_at,
    )  # fmt: skip
    change = refresh_level(conn, store, member_id, now) if points else None
    return {"order_id": order_id, "member_id": member_id, "points": points,
            "level_changes": _changes(change)}  # fmt: skip


_HANDLERS: dict[str, Callable[[Conn, Store, ShopEvent], Outcome]] = {
    "member.upserted": _member_upserted,
    "member.email_verified": _email_verified,
    "order.placed": _order_placed,
    "order.paid": _order_paid,
    "order.delivered": _order_delivered,
    "order.returned": _order_returned,
    "order.not_delivered": _order_not_delivered,
    "order.cancelled": _order_cancelled,
    "order.refunded": _order_refunded,
    "review.submitted": _review_submitted,
}

"""Webhook deliveries from shop platforms: recorded once, their events applied in one transaction.

A delivery is known by the platform's delivery id, and by a hash of its body (the same content
sent again under a new id). Its events are the shop events of our own API, applied with
`first_wins` ids, each inside a savepoint: one event the order's state cannot follow (a
cancellation after delivery) is recorded as refused without undoing the others.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from storage import coupons
from storage.db import Conn, to_db
from storage.errors import NotFound, OperationError
from storage.events import ShopEvent, apply_in, parse_event
from storage.logs import kv
from storage.store import Store

log = logging.getLogger(__name__)
PLATFORMS = ("woocommerce", "shopify")


@dataclass(frozen=True)
class CodeUse:
    """A coupon code that an order arrived with."""

    code: str
    member_id: str
    order_id: str


@dataclass(frozen=True)
class Customer:
    """The platform customer a member is, remembered so coupons go to the right shop."""

    platform: str
    customer_id: str
    member_id: str
    email: str | None


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as received: who sent it, its id, topic and body hash."""

    platform: str
    delivery_id: str
    topic: str
    digest: str


@dataclass
class Receipt:
    """What a delivery did: processed (with each event's fate), ignored, or a duplicate."""

    outcome: str  # processed, ignored, duplicate
    reason: str | None = None
    events: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    codes_redeemed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the receipt as the JSON answer to the platform."""
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "events": dict(self.events),
            "problems": self.problems,
            "codes_redeemed": self.codes_redeemed,
        }


async def receive(
    store: Store,
    delivery: Delivery,
    *,
    events: Sequence[Mapping[str, Any]] = (),
    codes: Sequence[CodeUse] = (),
    customer: Customer | None = None,
    ignored: str | None = None,
) -> Receipt:
    """Record a delivery once and apply what it means, all in one transaction.

    `ignored` says why a well-signed delivery means nothing to the programme (recorded and
    counted, never silently dropped). A repeat (same delivery id, or same body) changes nothing.
    """

    def take(conn: Conn) -> Receipt:
        now = store.now()
        seen = conn.execute(
            "SELECT outcome, reason FROM connector_deliveries WHERE platform = ?"
            " AND delivery_id = ?",
            (delivery.platform, delivery.delivery_id),
        ).fetchone()
        if seen is not None:
            return Receipt("duplicate", f"delivery {delivery.delivery_id} was received before")
        same = conn.execute(
            "SELECT 1 FROM connector_deliveries WHERE platform = ? AND digest = ? LIMIT 1",
            (delivery.platform, delivery.digest),
        ).fetchone()
        if same is not None:
            receipt = Receipt("duplicate", "the same content was received before")
        elif ignored is not None:
            receipt = Receipt("ignored", ignored)
        else:
            receipt = _apply(conn, store, events, codes, customer)
        conn.execute(
            "INSERT INTO connector_deliveries (platform, delivery_id, topic, digest, outcome,"
            " reason, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (delivery.platform, delivery.delivery_id, delivery.topic[:100], delivery.digest,
             receipt.outcome, (receipt.reason or "")[:500] or None, to_db(now)),
        )  # fmt: skip
        return receipt

    receipt = await store.db.write(take)
    log.info(
        "connector delivery",
        extra=kv(
            event="connector_delivery",
            platform=delivery.platform,
            topic=delivery.topic[:100],
            outcome=receipt.outcome,
            reason=receipt.reason,
            **{f"events_{k}": v for k, v in sorted(receipt.events.items())},
        ),
    )
    return receipt


def _apply(
    conn: Conn,
    store: Store,
    events: Sequence[Mapping[str, Any]],
    codes: Sequence[CodeUse],
    customer: Customer | None,
) -> Receipt:
    receipt = Receipt("processed")
    now = store.now()
    for body in events:
        try:
            event = parse_event(body, now)
        except OperationError as exc:
            receipt.events["rejected"] += 1
            receipt.problems.append(f"{body.get('id')}: {exc.message}")
            continue
        status = _one(conn, store, event, receipt)
        if customer is not None and event.type == "member.upserted":
            link(conn, store, customer)
        if event.type == "order.placed" and status in ("processed", "duplicate"):
            _unpark(conn, store, event.data["order_id"], receipt)
    for index, use in enumerate(codes, 1):
        conn.execute("SAVEPOINT connector_code")
        try:
            coupons.redeem_in(conn, store, use.code, use.member_id, use.order_id)
            receipt.codes_redeemed += 1
        except OperationError as exc:
            # A code of the shop's own (not ours) is normal: it is noted, nothing else. The
            # code itself is not repeated: the reason is logged, and a code is a secret.
            conn.execute("ROLLBACK TO connector_code")
            receipt.problems.append(f"code {index} of the order: {exc.code}")
        conn.execute("RELEASE connector_code")
    if not any(receipt.events.get(k) for k in ("processed", "duplicate", "parked")):
        receipt.outcome = "ignored"
        receipt.reason = "; ".join(receipt.problems)[:500] or "no event applied"
    elif receipt.problems:
        receipt.reason = "; ".join(receipt.problems)[:500]
    elif receipt.events.get("parked"):
        receipt.reason = f"{receipt.events['parked']} event(s) wait for their order"
    return receipt


def _one(conn: Conn, store: Store, event: ShopEvent, receipt: Receipt) -> str:
    """Apply one event in a savepoint; return its status (refused: rolled back alone)."""
    conn.execute("SAVEPOINT connector_event")
    try:
        result = apply_in(conn, store, event, first_wins=True)
    except NotFound as exc:
        conn.execute("ROLLBACK TO connector_event")
        order_id = exc.context.get("order_id")
        if order_id and event.type != "order.placed":
            # The order's own delivery is late (the platform retries it): keep this one.
            _park(conn, store, event, str(order_id))
            receipt.events["parked"] += 1
            conn.execute("RELEASE connector_event")
            return "parked"
        receipt.events["refused"] += 1
        receipt.problems.append(f"{event.id}: {exc.message}")
        status = "refused"
    except OperationError as exc:
        conn.execute("ROLLBACK TO connector_event")
        receipt.events["refused"] += 1
        receipt.problems.append(f"{event.id}: {exc.message}")
        status = "refused"
    else:
        status = str(result["status"])
        receipt.events[status] += 1
    conn.execute("RELEASE connector_event")
    return status


def _park(conn: Conn, store: Store, event: ShopEvent, order_id: str) -> None:
    conn.execute(
        "INSERT INTO connector_parked (event_id, order_id, body, received_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (event.id, order_id, json.dumps(dict(event.body)), to_db(store.now())),
    )


def _unpark(conn: Conn, store: Store, order_id: str, receipt: Receipt) -> None:
    """Apply what waited for this order, in the order it arrived, once."""
    rows = conn.execute(
        "SELECT event_id, body FROM connector_parked WHERE order_id = ? ORDER BY received_at,"
        " event_id",
        (order_id,),
    ).fetchall()
    for row in rows:
        conn.execute("DELETE FROM connector_parked WHERE event_id = ?", (row["event_id"],))
        try:
            event = parse_event(json.loads(row["body"]), store.now())
        except OperationError as exc:
            receipt.problems.append(f"{row['event_id']}: {exc.message}")
            continue
        _one(conn, store, event, receipt)


def link(conn: Conn, store: Store, customer: Customer) -> None:
    """Remember which platform customer a member is (once; the first link stays)."""
    conn.execute(
        "INSERT INTO connector_customers (platform, customer_id, member_id, email, created_at)"
        " SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM members WHERE member_id = ?)"
        " ON CONFLICT DO NOTHING",
        (customer.platform, customer.customer_id, customer.member_id, customer.email,
         to_db(store.now()), customer.member_id),
    )  # fmt: skip
    if customer.email:
        conn.execute(
            "UPDATE connector_customers SET email = ? WHERE platform = ? AND customer_id = ?",
            (customer.email, customer.platform, customer.customer_id),
        )


# Delivery records are kept this long (platforms redeliver within days: Shopify for 48 hours);
# an older redelivery is still known by its events' ids. Parked events whose order never came
# (a refund of a guest order) go too.
KEEP_DELIVERIES = timedelta(days=30)


async def prune(store: Store, before: datetime) -> int:
    """Delete delivery records, parked events and settled shop tasks older than `before`."""

    def delete(conn: Conn) -> int:
        cutoff = to_db(before)
        total = 0
        for sql in (
            "DELETE FROM connector_deliveries WHERE received_at < ?",
            "DELETE FROM connector_parked WHERE received_at < ?",
            "DELETE FROM shop_tasks WHERE status != 'pending' AND updated_at < ?",
        ):
            total += max(conn.execute(sql, (cutoff,)).rowcount, 0)
        return total

    return await store.db.write(delete)


async def deliveries(store: Store, platform: str | None = None) -> list[dict[str, Any]]:
    """Return recorded deliveries (tests, support), oldest first."""
    rows = await store.db.read(
        "SELECT platform, delivery_id, topic, outcome, reason, received_at"
        " FROM connector_deliveries"
        + (" WHERE platform = ?" if platform else "")
        + " ORDER BY received_at, delivery_id",
        (platform,) if platform else (),
    )
    return [dict(r) for r in rows]

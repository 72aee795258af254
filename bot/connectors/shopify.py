"""Shopify: what its webhooks (orders, refunds, customers) mean for the programme.

Topics: `orders/create`, `orders/paid`, `orders/fulfilled`, `orders/cancelled` (the order;
`orders/updated` is read the same way when a shop subscribes to it),
`refunds/create` (one refund), `customers/create`, `customers/update`. An order delivery is a
snapshot: placed, paid (`financial_status` paid or refunded in part or whole), delivered
(`fulfillment_status` = `delivered_status`, default `fulfilled`), each entry of `refunds`,
cancelled (`cancelled_at`). The amount that earns is `subtotal_price` (items after discounts,
without shipping and tax); a refund takes off its refunded line items' `subtotal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.connectors.mapping import (
    Mapped,
    Unusable,
    cents,
    email,
    identifier,
    instant,
    member_id,
    text,
    upsert_member,
)
from bot.connectors.settings import ShopifyConfig
from storage.connectors import CodeUse, Customer

PLATFORM = "shopify"
ORDER_TOPICS = (
    "orders/create", "orders/updated", "orders/paid", "orders/fulfilled", "orders/cancelled",
)  # fmt: skip
CUSTOMER_TOPICS = ("customers/create", "customers/update")
REFUND_TOPIC = "refunds/create"
TOPICS = (*ORDER_TOPICS, REFUND_TOPIC, *CUSTOMER_TOPICS)
PAID = ("paid", "partially_refunded", "refunded")


def map_delivery(
    config: ShopifyConfig, currency: str, topic: str, payload: Mapping[str, Any]
) -> Mapped:
    """Return the events one delivery implies, or raise Unusable with the reason."""
    if topic in ORDER_TOPICS:
        return _order(config, currency, payload)
    if topic == REFUND_TOPIC:
        out = Mapped()
        order = identifier(payload.get("order_id"), "the refund's order_id")
        _refund(out, f"shopify-{order}", payload, None)
        return out
    if topic in CUSTOMER_TOPICS:
        return _customer(config, payload)
    raise Unusable(f"topic {topic[:60]!r} is not used (one of {', '.join(TOPICS)})", "topic")


def _member(config: ShopifyConfig, out: Mapped, raw: Mapping[str, Any], at: datetime) -> str:
    customer_id = identifier(raw.get("id"), "the customer id")
    member = member_id(config.member_id, customer_id)
    found_email = email(raw.get("email"))
    upsert_member(
        out, "shopify", member, customer_id, at, found_email=found_email,
        first=raw.get("first_name"), last=raw.get("last_name"),
        language=text(raw.get("locale"), 16),
    )  # fmt: skip
    if raw.get("verified_email") is True:
        out.add(f"shopify:customer:{customer_id}:verified", "member.email_verified", at,
                member_id=member)  # fmt: skip
    out.customer = Customer(PLATFORM, customer_id, member, found_email)
    return member


def _customer(config: ShopifyConfig, payload: Mapping[str, Any]) -> Mapped:
    at = instant(payload.get("created_at"), naive_is_utc=False)
    at = at or instant(payload.get("updated_at"), naive_is_utc=False)
    if at is None:
        raise Unusable("the customer has no created_at")
    out = Mapped()
    _member(config, out, payload, at)
    return out


def _refund(
    out: Mapped, order_id: str, refund: Mapping[str, Any], scale: tuple[int, int] | None
) -> None:
    """Add one refund: its line items' subtotals, else its refund transactions (scaled)."""
    refund_id = identifier(refund.get("id"), "the refund id")
    at = instant(refund.get("created_at"), naive_is_utc=False)
    if at is None:
        raise Unusable(f"refund {refund_id} has no created_at")
    lines = refund.get("refund_line_items") or []
    amount = 0
    for index, line in enumerate(lines):
        if not isinstance(line, Mapping):
            raise Unusable(f"refund_line_items[{index}] is not an object")
        amount += cents(line.get("subtotal", 0), f"refund_line_items[{index}].subtotal")
    if not lines:
        # An amount-only refund: its share of the order's total is the share of the items.
        for tx in refund.get("transactions") or []:
            if (
                isinstance(tx, Mapping)
                and tx.get("kind") == "refund"
                and tx.get("status")
                in (
                    "success",
                    None,
                )
            ):
                amount += cents(tx.get("amount", 0), "transactions[].amount")
        if scale is not None and scale[1] > 0:
            amount = (amount * scale[0] + scale[1] // 2) // scale[1]
    out.add(f"shopify:refund:{refund_id}", "order.refunded", at, order_id=order_id,
            refund_id=f"shopify-{refund_id}", amount_cents=max(0, amount))  # fmt: skip


def _order(config: ShopifyConfig, currency: str, payload: Mapping[str, Any]) -> Mapped:
    number = identifier(payload.get("id"), "the order id")
    customer = payload.get("customer")
    if not isinstance(customer, Mapping) or customer.get("id") in (None, 0, ""):
        raise Unusable("a guest order (no customer)", "guest")
    if payload.get("currency") != currency:
        shown = str(payload.get("currency"))[:8]
        raise Unusable(f"currency {shown}, the programme's is {currency}", "currency")
    placed_at = instant(payload.get("created_at"), naive_is_utc=False)
    if placed_at is None:
        raise Unusable("the order has no created_at")
    updated = instant(payload.get("updated_at"), naive_is_utc=False) or placed_at
    amount = cents(payload.get("subtotal_price"), "subtotal_price")
    total = cents(payload.get("total_price", payload.get("subtotal_price")), "total_price")
    if amount < 0:
        raise Unusable("subtotal_price is below zero")
    out = Mapped()
    member = _member(config, out, customer, placed_at)
    order_id = f"shopify-{number}"
    key = f"shopify:order:{number}"
    out.add(f"{key}:placed", "order.placed", placed_at, order_id=order_id, member_id=member,
            amount_cents=amount)  # fmt: skip
    for line in payload.get("discount_codes") or []:
        code = text(line.get("code"), 64) if isinstance(line, Mapping) else None
        if code:
            out.codes.append(CodeUse(code, member, order_id))
    if payload.get("financial_status") in PAID:
        paid_at = instant(payload.get("processed_at"), naive_is_utc=False) or updated
        out.add(f"{key}:paid", "order.paid", paid_at, order_id=order_id)
    if payload.get("fulfillment_status") == config.delivered_status:
        done = updated
        fulfillments = payload.get("fulfillments") or []
        if fulfillments and isinstance(fulfillments[-1], Mapping):
            done = instant(fulfillments[-1].get("created_at"), naive_is_utc=False) or updated
        out.add(f"{key}:delivered", "order.delivered", done, order_id=order_id)
    for refund in payload.get("refunds") or []:
        if not isinstance(refund, Mapping):
            raise Unusable("a refund is not an object")
        _refund(out, order_id, refund, (amount, total))
    cancelled_at = instant(payload.get("cancelled_at"), naive_is_utc=False)
    if cancelled_at is not None:
        out.add(f"{key}:cancelled", "order.cancelled", cancelled_at, order_id=order_id)
    return out

"""WooCommerce: what its webhooks (REST API v3 orders and customers) mean for the programme.

Topics: `order.created`, `order.updated` (the order as `GET /wp-json/wc/v3/orders/<id>`
returns it), `customer.created`, `customer.updated`. Every order delivery is a snapshot of the
whole order, so each one implies every event its state has reached: placed, paid, delivered
(`delivered_status`, default `completed`), refunded (each entry of `refunds`), cancelled
(`cancelled`, `failed`). The amount that earns is the line items' `total` (after discounts,
without shipping and tax); a refund's share of it is its share of the order's grand total.
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
from bot.connectors.settings import WooCommerceConfig
from storage.connectors import CodeUse, Customer

PLATFORM = "woocommerce"
ORDER_TOPICS = ("order.created", "order.updated")
CUSTOMER_TOPICS = ("customer.created", "customer.updated")
TOPICS = ORDER_TOPICS + CUSTOMER_TOPICS
CANCELLED = ("cancelled", "failed")
PAID = ("processing", "completed", "refunded")


def is_ping(body: bytes, signature: str | None) -> bool:
    """Tell whether this is the unsigned `webhook_id=N` form WooCommerce posts on creation."""
    if signature:
        return False
    key, _, value = body.decode("latin-1").partition("=")
    return key == "webhook_id" and value.strip().isdigit()


def map_delivery(
    config: WooCommerceConfig, currency: str, topic: str, payload: Mapping[str, Any]
) -> Mapped:
    """Return the events one delivery implies, or raise Unusable with the reason."""
    if topic in ORDER_TOPICS:
        return _order(config, currency, payload)
    if topic in CUSTOMER_TOPICS:
        return _customer(config, payload)
    raise Unusable(f"topic {topic[:60]!r} is not used (one of {', '.join(TOPICS)})", "topic")


def _member(
    config: WooCommerceConfig, out: Mapped, customer_id: str, at: datetime, **profile: Any
) -> str:
    member = member_id(config.member_id, customer_id)
    found_email = email(profile.get("email"))
    upsert_member(
        out, "wc", member, customer_id, at, found_email=found_email,
        first=profile.get("first"), last=profile.get("last"),
    )  # fmt: skip
    if config.assume_email_verified and found_email:
        out.add(f"wc:customer:{customer_id}:verified", "member.email_verified", at,
                member_id=member)  # fmt: skip
    out.customer = Customer(PLATFORM, customer_id, member, found_email)
    return member


def _customer(config: WooCommerceConfig, payload: Mapping[str, Any]) -> Mapped:
    customer_id = identifier(payload.get("id"), "the customer id")
    at = instant(payload.get("date_created_gmt")) or instant(payload.get("date_modified_gmt"))
    if at is None:
        raise Unusable("the customer has no date_created_gmt")
    out = Mapped()
    _member(config, out, customer_id, at, email=payload.get("email"),
            first=payload.get("first_name"), last=payload.get("last_name"))  # fmt: skip
    return out


def items_cents(payload: Mapping[str, Any]) -> int:
    """Return the order's earning amount: its line items' totals (after discounts)."""
    lines = payload.get("line_items")
    if not isinstance(lines, list):
        raise Unusable("the order has no line_items")
    total = 0
    for index, line in enumerate(lines):
        if not isinstance(line, Mapping):
            raise Unusable(f"line_items[{index}] is not an object")
        total += cents(line.get("total"), f"line_items[{index}].total")
    if total < 0:
        raise Unusable("the line items add up to less than zero")
    return total


def _order(config: WooCommerceConfig, currency: str, payload: Mapping[str, Any]) -> Mapped:
    number = identifier(payload.get("id"), "the order id")
    status = payload.get("status")
    if not isinstance(status, str):
        raise Unusable("the order has no status")
    customer = payload.get("customer_id")
    if customer in (0, "0", None):
        raise Unusable("a guest order (customer_id 0)", "guest")
    customer_id = identifier(customer, "the customer id")
    if payload.get("currency") != currency:
        shown = str(payload.get("currency"))[:8]
        raise Unusable(f"currency {shown}, the programme's is {currency}", "currency")
    placed_at = instant(payload.get("date_created_gmt"))
    if placed_at is None:
        raise Unusable("the order has no date_created_gmt")
    amount = items_cents(payload)
    grand = cents(payload.get("total", "0"), "total")
    modified = instant(payload.get("date_modified_gmt")) or placed_at
    billing = payload.get("billing") if isinstance(payload.get("billing"), Mapping) else {}
    assert isinstance(billing, Mapping)
    out = Mapped()
    member = _member(config, out, customer_id, placed_at, email=billing.get("email"),
                     first=billing.get("first_name"), last=billing.get("last_name"))  # fmt: skip
    order_id = f"wc-{number}"
    key = f"wc:order:{number}"
    out.add(f"{key}:placed", "order.placed", placed_at, order_id=order_id, member_id=member,
            amount_cents=amount)  # fmt: skip
    for line in payload.get("coupon_lines") or []:
        code = text(line.get("code"), 64) if isinstance(line, Mapping) else None
        if code:
            out.codes.append(CodeUse(code, member, order_id))
    paid_at = instant(payload.get("date_paid_gmt"))
    if paid_at is not None or status in PAID:
        out.add(f"{key}:paid", "order.paid", paid_at or modified, order_id=order_id)
    if status == config.delivered_status:
        done = instant(payload.get("date_completed_gmt")) or modified
        out.add(f"{key}:delivered", "order.delivered", done, order_id=order_id)
    for index, refund in enumerate(payload.get("refunds") or []):
        if not isinstance(refund, Mapping):
            raise Unusable(f"refunds[{index}] is not an object")
        refund_id = identifier(refund.get("id"), f"refunds[{index}].id")
        # The refund's total is negative and counts shipping and tax: its share of the grand
        # total is the share of the items it refunds.
        given = abs(cents(refund.get("total"), f"refunds[{index}].total"))
        share = amount if grand <= 0 else min(amount, (given * amount + grand // 2) // grand)
        out.add(f"wc:refund:{refund_id}", "order.refunded", modified, order_id=order_id,
                refund_id=f"wc-{refund_id}", amount_cents=share)  # fmt: skip
    if status in CANCELLED:
        out.add(f"{key}:cancelled", "order.cancelled", modified, order_id=order_id)
    return out

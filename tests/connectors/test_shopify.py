"""Shopify webhooks through the whole server: the sample orders/create, signed as Shopify signs."""

from __future__ import annotations

from typing import Any

from storage import members
from storage.check import check
from storage.store import Store
from tests.conftest import rows, scalar
from tests.connectors.conftest import Platforms, everything, sample

CUSTOMER = "shopify-115310627314723954"
ORDER = "shopify-820982911946154508"


def delivered_sample() -> dict[str, Any]:
    """The sample order, paid and fulfilled instead of voided and cancelled."""
    order = sample("shopify_orders_create")
    order.update(financial_status="paid", cancelled_at=None, cancel_reason=None,
                 fulfillment_status="fulfilled", processed_at="2022-04-05T16:55:00+02:00",
                 updated_at="2022-04-05T18:00:00+02:00")  # fmt: skip
    order["fulfillments"] = [
        {"id": 1, "status": "success", "created_at": "2022-04-05T18:00:00+02:00"}
    ]
    return order


def refund(refund_id: int, subtotal: str, **extra: Any) -> dict[str, Any]:
    """A refund of one of the sample's line items, as refunds/create carries it."""
    return {
        "id": refund_id,
        "order_id": 820982911946154508,
        "created_at": "2022-04-06T09:00:00+02:00",
        "note": "damaged",
        "refund_line_items": [
            {"id": 1, "quantity": 1, "line_item_id": 487817672276298554, "subtotal": subtotal,
             "total_tax": 0.0}
        ],
        "transactions": [{"id": 2, "kind": "refund", "status": "success", "amount": subtotal}],
        **extra,
    }  # fmt: skip


async def test_the_sample_as_sent_registers_a_verified_member_and_a_cancelled_order(
    shop: Platforms, eur_store: Store
) -> None:
    answer = await shop.shopify("orders/create", sample("shopify_orders_create"))
    assert answer.status_code == 200 and answer.json()["outcome"] == "processed", answer.text
    view = await members.view(eur_store, CUSTOMER)
    assert (view.email, view.name, view.email_verified) == ("john@test.com", "John Smith", True)
    order = await rows(eur_store, "SELECT amount_cents, status FROM orders")
    assert [tuple(r) for r in order] == [(24498, "cancelled")]
    assert view.points == 0


async def test_a_fulfilled_order_earns_and_a_refund_takes_its_share(
    shop: Platforms, eur_store: Store
) -> None:
    await shop.shopify("orders/create", {**delivered_sample(), "fulfillment_status": None})
    await shop.shopify("orders/paid", {**delivered_sample(), "fulfillment_status": None})
    done = await shop.shopify("orders/fulfilled", delivered_sample())
    assert done.json()["outcome"] == "processed"
    # subtotal_price 244.98: 244 points + 5 for a day with a delivery = 249: level A2.
    view = await members.view(eur_store, CUSTOMER)
    assert (view.points, view.tier.code) == (249, "A2")
    # The sunglasses (89.99 of 244.98) come back: 249 * 8999 // 24498 = 91 points.
    back = await shop.shopify("refunds/create", refund(509562969, "89.99"))
    assert back.json()["outcome"] == "processed", back.text
    view = await members.view(eur_store, CUSTOMER)
    assert (view.points, view.tier.code) == (158, "A2")
    # The same refund inside a later order snapshot is the same fact: nothing more.
    snap = {**delivered_sample(), "financial_status": "partially_refunded",
            "refunds": [refund(509562969, "89.99")]}  # fmt: skip
    again = await shop.shopify("orders/paid", snap)
    assert again.json()["events"].get("processed", 0) == 0
    assert (await members.view(eur_store, CUSTOMER)).points == 158
    # The rest: a full refund takes everything back (capped at the balance).
    await shop.shopify("refunds/create", refund(509562970, "154.99"))
    view = await members.view(eur_store, CUSTOMER)
    assert (view.points, view.tier.code) == (0, "A0")
    assert await scalar(eur_store, "SELECT status FROM orders") == "returned"
    assert await check(eur_store) == []


async def test_the_shop_currency_must_be_the_programme_s(wc: Platforms, wc_store: Store) -> None:
    # The same sample against a USD programme: 200, recorded, nothing applied.
    answer = await wc.shopify("orders/create", sample("shopify_orders_create"))
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "ignored"
    assert answer.json()["reason"] == "currency EUR, the programme's is USD"
    assert await scalar(wc_store, "SELECT COUNT(*) FROM members") == 0
    assert wc.metric("loyalty_connector_ignored", platform="shopify", reason="currency") == 1


async def test_forged_replayed_and_duplicated_shopify_deliveries(
    shop: Platforms, eur_store: Store
) -> None:
    forged = await shop.shopify("orders/fulfilled", delivered_sample(), secret="not-the-app's")
    assert forged.status_code == 401
    assert await scalar(eur_store, "SELECT COUNT(*) FROM members") == 0
    first = await shop.shopify("orders/fulfilled", delivered_sample(), webhook_id="w-1")
    assert first.json()["outcome"] == "processed"
    before = await everything(eur_store)
    replay = await shop.shopify("orders/fulfilled", delivered_sample(), webhook_id="w-1")
    assert replay.json()["outcome"] == "duplicate"
    # Shopify may deliver one event twice under two webhook ids (two subscriptions).
    twice = await shop.shopify("orders/fulfilled", delivered_sample(), webhook_id="w-2")
    assert twice.json()["outcome"] == "duplicate"
    assert await everything(eur_store) == before
    assert shop.metric("loyalty_connector_deliveries", platform="shopify", outcome="forged") == 1
    assert shop.metric("loyalty_connector_deliveries", platform="shopify",
                       outcome="duplicate") == 2  # fmt: skip


async def test_a_guest_checkout_and_a_customer_update(shop: Platforms, eur_store: Store) -> None:
    guest = {**delivered_sample(), "customer": None}
    answer = await shop.shopify("orders/create", guest)
    assert answer.json()["outcome"] == "ignored" and "guest" in answer.json()["reason"]
    customer = {**sample("shopify_orders_create")["customer"], "created_at":
                "2022-04-01T10:00:00-04:00", "first_name": "Johnny"}  # fmt: skip
    updated = await shop.shopify("customers/update", customer)
    assert updated.json()["outcome"] == "processed"
    view = await members.view(eur_store, CUSTOMER)
    assert (view.name, view.email_verified) == ("Johnny Smith", True)
    link = await rows(eur_store, "SELECT platform, customer_id FROM connector_customers")
    assert [tuple(r) for r in link] == [("shopify", "115310627314723954")]


async def test_a_refund_delivered_before_its_order_waits_for_it(
    shop: Platforms, eur_store: Store
) -> None:
    # The order's own delivery failed and Shopify retries it later, with its payload as it
    # was then (no refunds): the refund that arrived meanwhile must not be lost.
    early = await shop.shopify("refunds/create", refund(509562969, "89.99"))
    assert early.status_code == 200
    assert early.json()["events"] == {"parked": 1}
    assert await scalar(eur_store, "SELECT COUNT(*) FROM connector_parked") == 1
    done = await shop.shopify("orders/fulfilled", delivered_sample())
    assert done.json()["events"].get("processed", 0) >= 4
    view = await members.view(eur_store, CUSTOMER)
    assert view.points == 249 - 91  # earned, then the waiting refund's share taken back
    assert await scalar(eur_store, "SELECT COUNT(*) FROM connector_parked") == 0
    # The refund again (a retry): known, nothing more.
    again = await shop.shopify("refunds/create", refund(509562969, "89.99"))
    assert again.json()["outcome"] == "duplicate"
    later = await shop.shopify("refunds/create", refund(509562969, "89.99", note="resent"))
    assert later.json()["events"] == {"duplicate": 1}
    assert (await members.view(eur_store, CUSTOMER)).points == 158

"""WooCommerce webhooks through the whole server: the REST v3 samples, signed as WooCommerce."""

from __future__ import annotations

import json
import random
from typing import Any

from storage import connectors, members
from storage.check import check
from storage.store import Store
from tests.conftest import rows, scalar
from tests.connectors.conftest import Platforms, everything, sample


def processing_723() -> dict[str, Any]:
    """Order 723 as it stood before completion: paid, no refunds yet."""
    order = sample("wc_order_723")
    order.update(status="processing", date_completed=None, date_completed_gmt=None, refunds=[],
                 date_paid="2017-03-21T16:20:00", date_paid_gmt="2017-03-21T19:20:00")  # fmt: skip
    return order


def completed_723() -> dict[str, Any]:
    """Order 723 completed, before its refunds."""
    return {**sample("wc_order_723"), "refunds": []}


async def test_the_documented_order_earns_and_its_refunds_take_a_share_back(
    wc: Platforms, wc_store: Store
) -> None:
    created = await wc.wc("order.created", processing_723())
    assert created.status_code == 200, created.text
    assert created.json()["outcome"] == "processed"
    view = await members.view(wc_store, "wc-26")
    assert (view.points, view.email, view.name) == (0, "joao.silva@example.com", "João Silva")
    # The sample as published: completed, refunds 726 (-10.00) and 724 (-9.00) of a 39.00
    # total whose items are 29.00: the items' share is 7.44 and 6.69.
    updated = await wc.wc("order.updated", sample("wc_order_723"))
    assert updated.json()["outcome"] == "processed", updated.text
    # Earned 29 (1 a dollar of 29.00) + 5 (daily purchase) = 34; the refunds cover 14.13 of
    # 29.00, so 34 * 1413 // 2900 = 16 points go back, 8 with each refund.
    view = await members.view(wc_store, "wc-26")
    assert (view.points, view.tier.code) == (18, "A1")
    refunds = await rows(wc_store, "SELECT refund_id, amount_cents FROM refunds ORDER BY 1")
    assert [tuple(r) for r in refunds] == [("wc-724", 669), ("wc-726", 744)]
    back = await rows(wc_store, "SELECT amount, note FROM ledger WHERE reason = 'refund_clawback'"
                                " ORDER BY id")  # fmt: skip
    assert [tuple(r) for r in back] == [(-8, "wc-726"), (-8, "wc-724")]
    assert await scalar(wc_store, "SELECT refunded_cents FROM orders") == 1413
    assert await check(wc_store) == []
    assert wc.metric("loyalty_connector_deliveries", platform="woocommerce",
                     outcome="processed") == 2  # fmt: skip


async def test_a_guest_order_is_recorded_and_counted_with_its_reason(
    wc: Platforms, wc_store: Store
) -> None:
    answer = await wc.wc("order.created", sample("wc_order_727"))
    assert answer.status_code == 200
    assert answer.json()["outcome"] == "ignored"
    assert "guest" in answer.json()["reason"]
    assert await scalar(wc_store, "SELECT COUNT(*) FROM members") == 0
    recorded = await connectors.deliveries(wc_store)
    assert [(d["topic"], d["outcome"]) for d in recorded] == [("order.created", "ignored")]
    assert wc.metric("loyalty_connector_ignored", platform="woocommerce", reason="guest") == 1


async def test_another_currency_and_an_unknown_topic_are_200_and_recorded(
    wc: Platforms, wc_store: Store
) -> None:
    euro = {**processing_723(), "currency": "EUR"}
    answer = await wc.wc("order.created", euro)
    assert answer.status_code == 200 and "currency EUR" in answer.json()["reason"]
    other = await wc.wc("product.updated", {"id": 93})
    assert other.status_code == 200 and "not used" in other.json()["reason"]
    assert wc.metric("loyalty_connector_ignored", platform="woocommerce", reason="currency") == 1
    assert wc.metric("loyalty_connector_ignored", platform="woocommerce", reason="topic") == 1
    assert await scalar(wc_store, "SELECT COUNT(*) FROM orders") == 0
    assert len(await connectors.deliveries(wc_store)) == 2


async def test_a_forged_or_unsigned_delivery_is_401_and_changes_nothing(
    wc: Platforms, wc_store: Store
) -> None:
    before = await everything(wc_store)
    forged = await wc.wc("order.updated", sample("wc_order_723"), secret="guessed")
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "bad_signature"
    unsigned = await wc.wc("order.updated", sample("wc_order_723"), signature="")
    assert unsigned.status_code == 401
    # A valid signature of another body does not sign this one.
    body_sig = await wc.wc("order.updated", {"id": 1})
    assert body_sig.status_code == 200
    other_signature = body_sig.request.headers["X-WC-Webhook-Signature"]
    tampered = await wc.wc("order.updated", sample("wc_order_723"), signature=other_signature)
    assert tampered.status_code == 401
    assert await everything(wc_store) == before
    assert wc.metric("loyalty_connector_deliveries", platform="woocommerce",
                     outcome="forged") == 3  # fmt: skip
    metrics = (await wc.client.get("/metrics")).text
    assert (
        'loyalty_connector_deliveries_total{outcome="forged",platform="woocommerce"} 3.0' in metrics
    )


async def test_the_creation_ping_is_answered_200_unsigned(wc: Platforms, wc_store: Store) -> None:
    answer = await wc.client.post(
        "/connectors/woocommerce", content=b"webhook_id=12",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert answer.status_code == 200 and answer.json()["outcome"] == "ping"
    assert await connectors.deliveries(wc_store) == []


async def test_a_replayed_delivery_and_the_same_content_again_change_nothing(
    wc: Platforms, wc_store: Store
) -> None:
    await wc.wc("order.created", processing_723(), delivery_id="d-1")
    await wc.wc("order.updated", sample("wc_order_723"), delivery_id="d-2")
    before = await everything(wc_store)
    again = await wc.wc("order.updated", sample("wc_order_723"), delivery_id="d-2")
    assert again.json()["outcome"] == "duplicate"
    resent = await wc.wc("order.updated", sample("wc_order_723"), delivery_id="d-3")
    assert resent.json()["outcome"] == "duplicate"
    assert await everything(wc_store) == before
    assert (await members.view(wc_store, "wc-26")).points == 18


async def test_completed_before_processing_ends_the_same_as_in_order(
    wc: Platforms, wc_store: Store, tmp_path: Any
) -> None:
    # Delivered out of order: the completed snapshot first, then the older processing one.
    await wc.wc("order.updated", completed_723())
    late = await wc.wc("order.created", processing_723())
    assert late.json()["outcome"] == "processed"
    assert late.json()["events"].get("duplicate", 0) >= 2  # placed and paid were implied
    view = await members.view(wc_store, "wc-26")
    assert (view.points, view.tier.code) == (34, "A1")
    statuses = await rows(wc_store, "SELECT order_id, status, paid FROM orders")
    assert [tuple(r) for r in statuses] == [("wc-723", "delivered", 1)]


def _day_of_deliveries() -> list[tuple[str, dict[str, Any]]]:
    """A day at a shop: customers, orders created, completed, refunded, cancelled."""
    day: list[tuple[str, dict[str, Any]]] = []
    for n in range(8):
        customer = 100 + n
        order = processing_723()
        order.update(id=5000 + n, number=str(5000 + n), customer_id=customer)
        order["billing"] = {**order["billing"], "email": f"c{customer}@example.com"}
        day.append(("customer.created", {"id": customer, "email": f"c{customer}@example.com",
                                         "first_name": f"C{n}", "last_name": "Shopper",
                                         "date_created_gmt": "2017-03-21T08:00:00"}))  # fmt: skip
        day.append(("order.created", order))
        if n % 4 == 3:
            day.append(("order.updated", {**order, "status": "cancelled"}))
            continue
        done = {**order, "status": "completed", "date_completed_gmt": "2017-03-21T19:54:51"}
        day.append(("order.updated", done))
        if n % 2:
            refunded = {**done, "refunds": [{"id": 9000 + n, "refund": "", "total": "-9.75"}]}
            day.append(("order.updated", refunded))
    return day


async def test_a_whole_day_replayed_shuffled_changes_nothing(
    wc: Platforms, wc_store: Store
) -> None:
    day = _day_of_deliveries()
    for topic, payload in day:
        answer = await wc.wc(topic, payload)
        assert answer.status_code == 200 and answer.json()["outcome"] == "processed", answer.text
    before = await everything(wc_store)
    balances = [(await members.view(wc_store, f"wc-{100 + n}")).points for n in range(8)]
    # A refund of 9.75 of 39.00 is 7.25 of the 29.00 of items: 34 * 725 // 2900 = 8 back.
    assert balances == [34, 26, 34, 0, 34, 26, 34, 0]
    # Replayed the next day in a random order, under new delivery ids and written out
    # differently (so neither the delivery id nor the body's hash is known): every event
    # each one implies is already known, and nothing changes.
    shuffled = day[:]
    random.Random(14).shuffle(shuffled)
    for topic, payload in shuffled:
        answer = await wc.wc(topic, payload, indent=2)
        assert answer.status_code == 200, answer.text
        assert answer.json()["outcome"] == "processed"
        assert set(answer.json()["events"]) == {"duplicate"}, answer.json()
    assert await everything(wc_store) == before
    # And the same bodies again, byte for byte: known by their content.
    for topic, payload in shuffled[:5]:
        assert (await wc.wc(topic, payload, indent=2)).json()["outcome"] == "duplicate"
    assert await check(wc_store) == []


async def test_a_connector_that_is_off_or_has_no_secret_takes_nothing(
    wc_store: Store, tmp_path: Any
) -> None:
    import httpx
    from prometheus_client import CollectorRegistry

    from bot.api.app import build_api
    from bot.connectors.webhooks import Connectors
    from tests.connectors.conftest import API_KEY, connector_config

    config = connector_config()
    off = build_api(config.__class__(program=config.program), wc_store, api_key=API_KEY,
                    bot_username="b")  # fmt: skip
    registry = CollectorRegistry()
    unset = build_api(
        config, wc_store, api_key=API_KEY, bot_username="b", metrics_registry=registry,
        connectors=Connectors.build(config.connectors, "USD", registry, environ={}),
    )  # fmt: skip
    body = b'{"id": 723}'
    for app, status in ((off, 404), (unset, 503)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:  # fmt: skip
            answer = await client.post("/connectors/woocommerce", content=body,
                                       headers={"X-WC-Webhook-Signature": "x"})  # fmt: skip
            assert answer.status_code == status, answer.text
            shopify = await client.post("/connectors/shopify", content=body)
            assert shopify.status_code == status
    assert await connectors.deliveries(wc_store) == []


async def test_a_day_delivered_in_any_order_ends_with_the_same_balances_and_levels(
    wc: Platforms, wc_store: Store, tmp_path: Any
) -> None:
    from loyalty.clock import ManualClock
    from loyalty.loader import load_program
    from tests.connectors.conftest import PLATFORMS, WC_NOW, connector_config, platforms_for

    day = _day_of_deliveries()
    for topic, payload in day:
        await wc.wc(topic, payload)
    expected = [await _standing(wc_store, f"wc-{100 + n}") for n in range(8)]
    for seed in (1, 2, 3):
        shuffled = day[:]
        random.Random(seed).shuffle(shuffled)
        other = await Store.open(tmp_path / f"shuffled-{seed}.db",
                                 load_program({"preset": "marketplace"}),
                                 clock=ManualClock(WC_NOW), shop_platforms=PLATFORMS)  # fmt: skip
        try:
            async for platform in platforms_for(other, connector_config()):
                for topic, payload in shuffled:
                    assert (await platform.wc(topic, payload)).status_code == 200
            assert [await _standing(other, f"wc-{100 + n}") for n in range(8)] == expected
            assert await check(other) == []
        finally:
            await other.close()


async def _standing(store: Store, member_id: str) -> tuple[int, str, list[tuple[Any, ...]]]:
    view = await members.view(store, member_id)
    orders = await rows(store, "SELECT order_id, status, refunded_cents FROM orders"
                               " WHERE member_id = ? ORDER BY 1", (member_id,))  # fmt: skip
    return view.points, view.tier.code, [tuple(r) for r in orders]


async def test_old_delivery_records_are_pruned_and_a_late_redelivery_still_changes_nothing(
    wc: Platforms, wc_store: Store
) -> None:
    from loyalty.clock import ManualClock
    from storage.day_start import start_day

    await wc.wc("order.updated", sample("wc_order_723"), delivery_id="d-1")
    before = await everything(wc_store)
    clock = wc_store.clock
    assert isinstance(clock, ManualClock)
    clock.advance(days=31)
    await start_day(wc_store)
    assert await connectors.deliveries(wc_store) == []
    late = await wc.wc("order.updated", sample("wc_order_723"), delivery_id="d-1")
    assert late.json()["outcome"] == "processed" and set(late.json()["events"]) == {"duplicate"}
    after = await everything(wc_store)
    assert after["ledger"] == before["ledger"] and after["refunds"] == before["refunds"]


async def test_a_delivery_that_names_a_key_twice_is_ignored_with_its_reason(
    wc: Platforms, wc_store: Store
) -> None:
    """The shop API's parser (issue 17): which customer_id was meant cannot be known."""
    body = json.dumps(processing_723()).encode()
    twice = b'{"customer_id": 99, ' + body[1:]
    answer = await wc.wc("order.created", twice)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "ignored"
    assert "the key 'customer_id' appears twice" in answer.json()["reason"]
    assert await scalar(wc_store, "SELECT COUNT(*) FROM members") == 0

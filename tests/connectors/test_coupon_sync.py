"""Coupons made in the member's shop through the shop outbox, against stand-in platform APIs.

The stand-ins run on loopback and check every request's documented shape; they go down,
throttle, lose answers and refuse. Time is the store's ManualClock: an hour of outage is
walked through in five-minute steps, no real sleeping (only the lost-answer case waits for
the client's short timeout, 0.2 s, as a real one would).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import pytest

from bot.api.server import http_server
from bot.connectors.clients import Shopify, WooCommerce
from bot.connectors.sync import ShopSync
from loyalty.clock import ManualClock
from storage import coupons, outbox, shop_tasks
from storage.check import check
from storage.db import Conn, to_db
from storage.grants import grant
from storage.store import Store
from tests.conftest import rows, scalar
from tests.connectors.conftest import Platforms, connector_config, sample
from tests.connectors.standins import ShopifyStandin, Standin, WooCommerceStandin

TIMEOUT = 0.2


async def link_telegram(store: Store, member_id: str, user_id: int) -> None:
    """Link a Telegram user, so the member's notices are queued."""

    def link(conn: Conn) -> None:
        conn.execute(
            "INSERT INTO telegram_links (member_id, telegram_user_id, linked_at) VALUES (?, ?, ?)",
            (member_id, user_id, to_db(store.now())),
        )

    await store.db.write(link)


async def notices(store: Store, kind: str) -> list[dict[str, Any]]:
    return [r for r in await outbox.outbox_rows(store) if r["kind"] == kind]


@pytest.fixture
async def woo(wc_store: Store) -> AsyncIterator[tuple[WooCommerceStandin, ShopSync]]:
    standin = WooCommerceStandin()
    async with http_server(standin.app(), "127.0.0.1", 0) as live:
        config = connector_config(woocommerce={"store_url": live.url}).connectors.woocommerce
        client = WooCommerce(config, standin.key, standin.secret, timeout=TIMEOUT)
        try:
            yield standin, ShopSync(wc_store, [client])
        finally:
            standin.released.set()


@pytest.fixture
async def shopify_api(eur_store: Store) -> AsyncIterator[tuple[ShopifyStandin, ShopSync]]:
    standin = ShopifyStandin()
    async with http_server(standin.app(), "127.0.0.1", 0) as live:
        config = connector_config().connectors.shopify
        client = Shopify(config, standin.token, base_url=live.url, timeout=TIMEOUT)
        try:
            yield standin, ShopSync(eur_store, [client])
        finally:
            standin.released.set()


async def wc_member(wc: Platforms, store: Store) -> str:
    """Customer 26 of the samples, with points for three $5 coupons and Telegram linked."""
    customer = {"id": 26, "email": "joao.silva@example.com", "first_name": "João",
                "last_name": "Silva", "date_created_gmt": "2017-03-20T10:00:00"}  # fmt: skip
    assert (await wc.wc("customer.created", customer)).json()["outcome"] == "processed"
    await grant(store, "wc-26", 1_500, reason="test funds", actor="test")
    await link_telegram(store, "wc-26", 7001)
    return "wc-26"


async def walk(store: Store, sync: ShopSync, minutes: int, step: int = 5) -> None:
    """Let `minutes` pass in `step`-minute ticks, running the sync job at each."""
    clock = store.clock
    assert isinstance(clock, ManualClock)
    for _ in range(minutes // step):
        clock.advance(minutes=step)
        await sync.run_once()


def live_codes(standin: Standin) -> list[str]:
    return sorted(c["code"].upper() for c in standin.coupons.values())


async def test_a_woocommerce_outage_of_an_hour_loses_and_doubles_nothing(
    wc: Platforms, wc_store: Store, woo: tuple[WooCommerceStandin, ShopSync]
) -> None:
    standin, sync = woo
    member = await wc_member(wc, wc_store)
    standin.mode = "down"
    made = [
        (await coupons.exchange(wc_store, member, 500, "points", f"k-{n}")).coupon for n in range(3)
    ]
    assert [c.shop_status for c in made] == ["pending"] * 3
    await walk(wc_store, sync, 60)
    assert standin.coupons == {}
    assert len(standin.calls) >= 3 * 6  # tried all along, backing off to every 10 minutes
    pending = await shop_tasks.tasks(wc_store)
    assert {t["status"] for t in pending} == {"pending"} and min(
        t["attempts"] for t in pending
    ) >= 5
    assert await notices(wc_store, "coupon_ready") == []
    # Back, but the first answer is lost after the coupon was made: the retry finds the code
    # taken and adopts the shop's coupon instead of making a second one.
    standin.mode = "lost"
    await walk(wc_store, sync, 15)
    assert live_codes(standin) == sorted(c.code for c in made)
    assert standin.problems == []
    assert {t["status"] for t in await shop_tasks.tasks(wc_store)} == {"done"}
    ready = await notices(wc_store, "coupon_ready")
    assert sorted(r["dedupe_key"] for r in ready) == sorted(f"coupon_ready:{c.code}" for c in made)
    shape = next(iter(standin.coupons.values()))
    assert (shape["amount"], shape["usage_limit"], shape["email_restrictions"]) == (
        "5.00", 1, ["joao.silva@example.com"])  # fmt: skip
    expires = made[0].expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert shape["date_expires_gmt"] == expires
    calls = len(standin.calls)
    await walk(wc_store, sync, 30)
    assert len(standin.calls) == calls  # nothing left to do
    assert await check(wc_store) == []


async def test_an_order_with_the_code_in_coupon_lines_marks_the_coupon_used(
    wc: Platforms, wc_store: Store, woo: tuple[WooCommerceStandin, ShopSync]
) -> None:
    _, sync = woo
    member = await wc_member(wc, wc_store)
    coupon = (await coupons.exchange(wc_store, member, 500, "points", "k-1")).coupon
    await sync.run_once()
    # WooCommerce sends codes in lower case.
    line = {"id": 1, "code": coupon.code.lower(), "discount": "5.00"}
    order = {**sample("wc_order_723"), "id": 800, "status": "processing", "refunds": []}
    order["coupon_lines"] = [line]
    answer = await wc.wc("order.created", order)
    assert answer.json()["codes_redeemed"] == 1
    used = await coupons.get(wc_store, coupon.code)
    assert (used.status, used.order_id) == ("used", "wc-800")


async def test_expiry_removes_the_coupon_from_the_shop(
    wc: Platforms, wc_store: Store, woo: tuple[WooCommerceStandin, ShopSync]
) -> None:
    standin, sync = woo
    member = await wc_member(wc, wc_store)
    await coupons.exchange(wc_store, member, 500, "points", "k-1")
    await sync.run_once()
    assert len(standin.coupons) == 1
    clock = wc_store.clock
    assert isinstance(clock, ManualClock)
    clock.advance(days=31)
    assert (await coupons.expire(wc_store))["expired"] == 1
    standin.mode = "down"
    await sync.run_once()
    assert len(standin.coupons) == 1  # not lost: retried once the shop is back
    standin.mode = "up"
    await walk(wc_store, sync, 10)
    assert standin.coupons == {}
    assert ("DELETE", "/wp-json/wc/v3/coupons/1001") in standin.calls
    assert await scalar(wc_store, "SELECT shop_status FROM coupons") == "removed"


async def test_a_coupon_refused_for_good_is_reversed_and_the_member_told(
    wc: Platforms, wc_store: Store, woo: tuple[WooCommerceStandin, ShopSync]
) -> None:
    standin, sync = woo
    member = await wc_member(wc, wc_store)
    coupon = (await coupons.exchange(wc_store, member, 500, "points", "k-1")).coupon
    standin.mode = "refuse"
    await sync.run_once()
    assert standin.coupons == {}
    assert await scalar(wc_store, "SELECT points FROM members") == 1_500
    assert await scalar(wc_store, "SELECT COUNT(*) FROM coupons") == 0
    told = await notices(wc_store, "coupon_refused")
    assert [r["dedupe_key"] for r in told] == [f"coupon_refused:{coupon.code}"]
    reasons = await rows(
        wc_store, "SELECT reason, amount FROM ledger WHERE ref = ?", (coupon.code,)
    )
    assert [tuple(r) for r in reasons] == [("coupon", -500), ("coupon_reversed", 500)]
    assert await check(wc_store) == []


async def test_shopify_discount_codes_survive_an_outage_and_throttling(
    shop: Platforms, eur_store: Store, shopify_api: tuple[ShopifyStandin, ShopSync]
) -> None:
    standin, sync = shopify_api
    customer = {**sample("shopify_orders_create")["customer"], "created_at": "2022-04-01T10:00:00Z"}
    assert (await shop.shopify("customers/create", customer)).json()["outcome"] == "processed"
    member = "shopify-115310627314723954"
    await grant(eur_store, member, 1_000, reason="test funds", actor="test")
    standin.mode = "down"
    first = (await coupons.exchange(eur_store, member, 500, "points", "k-1")).coupon
    await walk(eur_store, sync, 30)
    standin.mode = "throttled"
    await walk(eur_store, sync, 30)
    assert standin.coupons == {}
    standin.mode = "lost"
    await walk(eur_store, sync, 15)
    second = (await coupons.exchange(eur_store, member, 500, "points", "k-2")).coupon
    await sync.run_once()
    assert live_codes(standin) == sorted([first.code, second.code])
    assert standin.problems == []
    made = next(c for c in standin.coupons.values() if c["code"] == first.code)
    assert made["context"] == {"customers": {"add": ["gid://shopify/Customer/115310627314723954"]}}
    assert made["customerGets"]["value"]["discountAmount"]["amount"] == "5.00"
    assert made["endsAt"] == first.expires_at.isoformat()
    # An order arriving with the code in discount_codes uses it; the burn would end it anyway.
    order = {**sample("shopify_orders_create"), "id": 4242, "cancelled_at": None,
             "discount_codes": [{"code": first.code.lower(), "amount": "5.00",
                                 "type": "fixed_amount"}]}  # fmt: skip
    answer = await shop.shopify("orders/create", order)
    assert answer.json()["codes_redeemed"] == 1
    assert (await coupons.get(eur_store, first.code)).status == "used"


async def test_a_coupon_expiring_while_the_shop_is_down_never_reaches_it(
    wc: Platforms, wc_store: Store, woo: tuple[WooCommerceStandin, ShopSync]
) -> None:
    standin, sync = woo
    member = await wc_member(wc, wc_store)
    standin.mode = "down"
    await coupons.exchange(wc_store, member, 500, "points", "k-1")
    clock = wc_store.clock
    assert isinstance(clock, ManualClock)
    clock.advance(days=31)
    await coupons.expire(wc_store)  # never tried yet: dropped, not created then deleted
    standin.mode = "up"
    await walk(wc_store, sync, 30)
    assert standin.coupons == {} and standin.calls == []
    assert [t["status"] for t in await shop_tasks.tasks(wc_store)] == ["dropped"]


async def test_a_coupon_that_expires_after_an_unanswered_try_is_taken_out_of_the_shop(
    wc: Platforms, wc_store: Store, woo: tuple[WooCommerceStandin, ShopSync]
) -> None:
    standin, sync = woo
    member = await wc_member(wc, wc_store)
    await coupons.exchange(wc_store, member, 500, "points", "k-1")
    standin.mode = "lost"  # the store makes the coupon; its answer never comes
    await sync.run_once()
    assert len(standin.coupons) == 1
    clock = wc_store.clock
    assert isinstance(clock, ManualClock)
    clock.advance(days=31)
    await coupons.expire(wc_store)
    await walk(wc_store, sync, 30)
    # Not made again (it is no longer worth having), and the copy made by the lost try is
    # found by its code and deleted.
    assert standin.coupons == {}
    statuses = [(t["kind"], t["status"]) for t in await shop_tasks.tasks(wc_store)]
    assert statuses == [("create_coupon", "dropped"), ("delete_coupon", "done")]
    assert await notices(wc_store, "coupon_ready") == []


def test_older_admin_api_versions_name_the_customer_with_customer_selection() -> None:
    older = connector_config(shopify={"api_version": "2025-07"}).connectors.shopify
    assert Shopify(older, "t").eligibility == "customerSelection"
    assert Shopify(connector_config().connectors.shopify, "t").eligibility == "context"

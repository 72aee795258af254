"""GET /api/v1/members/{id} in the contract's exact shape, and link tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from loyalty.clock import ManualClock
from loyalty.loader import load_program
from storage import coupons, links
from storage.store import Store
from tests.api.conftest import BOT, Shop, app_for, client_for, error, make_config
from tests.conftest import open_store

MEMBER_KEYS = {"member_id", "telegram_linked", "points", "points_held", "coins", "level",
               "next_level", "coupons"}  # fmt: skip


async def test_a_new_member_in_the_contract_shape(shop: Shop) -> None:
    await shop.member("m-1001", email="a@example.com", name="Ann")
    card = await shop.card("m-1001")
    assert card == {
        "member_id": "m-1001",
        "telegram_linked": False,
        "points": 0,
        "points_held": 0,
        "coins": 0,
        "level": {
            "code": "A0",
            "name": "A0",
            "perks": [
                {"code": "promo_emails", "text": "Personal e-mails about discounts and promotions"},
                {"code": "price_drop_alerts",
                 "text": "A message when an item in your basket or wish list gets cheaper"},
            ],
        },
        "next_level": {"code": "A1", "points_needed": 1},
        "coupons": [],
    }  # fmt: skip


async def test_next_level_is_null_at_the_top(shop: Shop) -> None:
    await shop.member("m-1")
    await shop.delivered("m-1", 250_000)  # $2,500: 2,500 points and the daily 5
    card = await shop.card("m-1")
    assert card["level"]["code"] == "A4"
    assert [p["code"] for p in card["level"]["perks"]] == [
        "promo_emails", "price_drop_alerts", "fast_refund_all", "priority_disputes"]  # fmt: skip
    assert card["next_level"] is None
    assert card["points"] == 2505


async def test_a_spend_programme_says_spend_needed_cents(vip_shop: Shop) -> None:
    await vip_shop.member("v-1")
    card = await vip_shop.card("v-1")
    assert (card["level"]["code"], card["level"]["perks"]) == ("unverified", [])
    assert card["next_level"] == {"code": "regular", "spend_needed_cents": 0}
    await vip_shop.send("member.email_verified", member_id="v-1")
    await vip_shop.delivered("v-1", 15_000)
    card = await vip_shop.card("v-1")
    assert card["level"]["code"] == "regular"
    assert card["level"]["perks"][0] == {"code": "level_discount", "text": "0.5% off every order"}
    assert card["next_level"] == {"code": "vip_d", "spend_needed_cents": 5_000}
    assert set(card) == MEMBER_KEYS


async def test_coupons_and_times_in_the_programme_time_zone(tmp_path: Path) -> None:
    clock = ManualClock(datetime.fromisoformat("2027-06-20T10:00:00+08:00"))
    program = load_program({"preset": "marketplace", "timezone": "Asia/Singapore"})
    store = await open_store(tmp_path / "sg.db", program, clock)
    try:
        config = make_config({"preset": "marketplace", "timezone": "Asia/Singapore"})
        async with client_for(app_for(store, config=config)) as client:
            shop = Shop(client, store)
            await shop.member("m-1")
            await shop.delivered("m-1", 100_000)
            bought = await coupons.exchange(store, "m-1", 500, "points", key="x-1")
            card = await shop.card("m-1")
            assert card["coupons"] == [{"code": bought.coupon.code, "value_cents": 500,
                                        "status": "active",
                                        "expires_at": "2027-06-30T23:59:59+08:00"}]  # fmt: skip
            assert card["points"] == 1005 - 500
            token = (await client.post("/api/v1/members/m-1/link-token")).json()
            assert token["expires_at"] == "2027-06-21T10:00:00+08:00"
            clock.advance(days=11)  # past the burn on 30 June: no longer active
            assert (await shop.card("m-1"))["coupons"] == []
    finally:
        await store.close()


async def test_link_token_makes_a_single_use_deep_link(shop: Shop, store: Store) -> None:
    await shop.member("m-1")
    response = await shop.client.post("/api/v1/members/m-1/link-token")
    assert response.status_code == 200
    body = response.json()
    assert body["url"] == f"https://t.me/{BOT}?start={body['token']}"
    assert datetime.fromisoformat(body["expires_at"]) == (
        store.now() + timedelta(minutes=1440)
    ).replace(microsecond=0)
    assert await links.consume_token(store, body["token"], 4242) == "m-1"
    assert (await shop.card("m-1"))["telegram_linked"] is True
    second = (await shop.client.post("/api/v1/members/m-1/link-token")).json()
    assert second["token"] != body["token"]


@pytest.mark.parametrize("member_id", ["m-404", "x" * 129, "%20"])
async def test_unknown_members_are_404(shop: Shop, member_id: str) -> None:
    for response in (
        await shop.client.get(f"/api/v1/members/{member_id}"),
        await shop.client.post(f"/api/v1/members/{member_id}/link-token"),
    ):
        assert error(response, 404)["code"] == "not_found"


async def test_link_token_without_a_bot_username_is_503(store: Store) -> None:
    async with client_for(app_for(store, bot_username="")) as client:
        await Shop(client, store).member("m-1")
        response = await client.post("/api/v1/members/m-1/link-token")
        found = error(response, 503)
        assert found["code"] == "bot_username_unknown"
        assert "telegram.bot_username" in found["message"]

"""Coupons over HTTP: look up by code, redeem; 409 when not active or not that member's."""

from __future__ import annotations

import httpx

from loyalty.clock import ManualClock
from storage import coupons
from storage.store import Store
from tests.api.conftest import Shop, error


async def coupon_for(shop: Shop, member_id: str = "m-1") -> str:
    await shop.member(member_id)
    await shop.delivered(member_id, 100_000)
    bought = await coupons.exchange(shop.store, member_id, 500, "points", key=f"k-{member_id}")
    return bought.coupon.code


async def test_get_a_coupon_by_code(shop: Shop) -> None:
    code = await coupon_for(shop)
    response = await shop.client.get(f"/api/v1/coupons/{code}")
    assert response.status_code == 200
    assert response.json() == {
        "code": code,
        "value_cents": 500,
        "status": "active",
        "expires_at": "2026-04-09T23:59:59+00:00",  # 30 days after 10 March, end of day
        "member_id": "m-1",
    }
    card = await shop.card("m-1")
    assert card["coupons"] == [{k: v for k, v in response.json().items() if k != "member_id"}]


async def test_redeem_once_repeat_harmless_then_409(shop: Shop) -> None:
    code = await coupon_for(shop)
    body = {"member_id": "m-1", "order_id": "o-77"}
    for _ in range(2):
        used = await shop.client.post(f"/api/v1/coupons/{code}/redeem", json=body)
        assert used.status_code == 200
        assert used.json()["status"] == "used"
        assert used.json()["order_id"] == "o-77"
        assert used.json()["used_at"] == "2026-03-10T09:00:00+00:00"
    other_order = await shop.client.post(
        f"/api/v1/coupons/{code}/redeem", json={**body, "order_id": "o-78"}
    )
    assert error(other_order, 409)["code"] == "coupon_used"
    assert (await shop.client.get(f"/api/v1/coupons/{code}")).json()["status"] == "used"
    assert (await shop.card("m-1"))["coupons"] == []


async def test_redeem_by_another_member_is_409(shop: Shop) -> None:
    code = await coupon_for(shop)
    await shop.member("m-2")
    for member_id in ("m-2", "m-404"):
        response = await shop.client.post(
            f"/api/v1/coupons/{code}/redeem", json={"member_id": member_id, "order_id": "o-1"}
        )
        assert error(response, 409)["code"] == "not_owner"


async def test_an_expired_coupon_shows_expired_and_cannot_be_redeemed(
    shop: Shop, store: Store, clock: ManualClock
) -> None:
    code = await coupon_for(shop)
    clock.advance(days=31)
    assert (await shop.client.get(f"/api/v1/coupons/{code}")).json()["status"] == "expired"
    response = await shop.client.post(
        f"/api/v1/coupons/{code}/redeem", json={"member_id": "m-1", "order_id": "o-1"}
    )
    assert error(response, 409)["code"] == "coupon_expired"


async def test_unknown_codes_and_bad_bodies(client: httpx.AsyncClient) -> None:
    assert error(await client.get("/api/v1/coupons/NOPE-NOPE-NOPE"), 404)["code"] == "not_found"
    redeem = await client.post(
        "/api/v1/coupons/NOPE-NOPE-NOPE/redeem", json={"member_id": "m-1", "order_id": "o-1"}
    )
    assert error(redeem, 404)["code"] == "not_found"
    bad = await client.post("/api/v1/coupons/NOPE/redeem", json={"member_id": 1, "extra": True})
    assert error(bad, 422)["details"] == [
        "extra: unknown field",
        "member_id: must be a non-empty string",
        "order_id: required",
    ]

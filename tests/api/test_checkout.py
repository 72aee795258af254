"""Checkout over HTTP: quote, hold (idempotent by hold_id), capture, release exactly once."""

from __future__ import annotations

import httpx

from tests.api.conftest import Shop, error


async def regular_with_points(shop: Shop, member_id: str = "v-1") -> str:
    """A verified vip-shop member with 5 + 300 = 305 points and a $300 delivered order."""
    await shop.member(member_id)
    await shop.send("member.email_verified", member_id=member_id)
    order = await shop.delivered(member_id, 30_000)
    await shop.send("review.submitted", order_id=order)  # 1% of $300 = 3 points
    for n in range(3):  # more reviewed orders: 3 x 1% of $10,000
        order = await shop.delivered(member_id, 1_000_000, f"{member_id}-big-{n}")
        await shop.send("review.submitted", order_id=order)
    return member_id


async def test_quote_follows_the_level_and_the_cap(vip_shop: Shop) -> None:
    await regular_with_points(vip_shop)
    assert (await vip_shop.card("v-1"))["points"] == 5 + 3 + 300
    quote = await vip_shop.client.post(
        "/api/v1/checkout/quote", json={"member_id": "v-1", "amount_cents": 12_999}
    )
    assert quote.status_code == 200
    # 4% of $129.99 = $5.19 -> 5 points of $1.
    assert quote.json() == {"member_id": "v-1", "amount_cents": 12_999, "max_points": 5,
                            "value_cents": 500}  # fmt: skip
    await vip_shop.member("v-2")  # unverified: may not pay with points
    other = await vip_shop.client.post(
        "/api/v1/checkout/quote", json={"member_id": "v-2", "amount_cents": 12_999}
    )
    assert other.json()["max_points"] == 0


async def test_quote_422_lists_every_problem(vip: httpx.AsyncClient) -> None:
    cases = [
        ({}, ["member_id: required", "amount_cents: required"]),
        ({"member_id": 5, "amount_cents": True, "tip": 1},
         ["tip: unknown field", "member_id: must be a non-empty string",
          "amount_cents: must be an integer"]),
        ({"member_id": " ", "amount_cents": -5},
         ["member_id: must be a non-empty string",
          "amount_cents: must be between 1 and 100000000"]),
        ({"member_id": "v", "amount_cents": 10**9},
         ["amount_cents: must be between 1 and 100000000"]),
        ({"member_id": "v" * 129, "amount_cents": 1.0},
         ["member_id: longer than 128 characters", "amount_cents: must be an integer"]),
        ([], ["body: must be a JSON object"]),
    ]  # fmt: skip
    for body, details in cases:
        found = error(await vip.post("/api/v1/checkout/quote", json=body), 422)
        assert found["details"] == details
    unknown = await vip.post("/api/v1/checkout/quote", json={"member_id": "v-9", "amount_cents": 5})
    assert error(unknown, 422)["code"] == "unknown_reference"


async def test_hold_is_idempotent_by_hold_id(vip_shop: Shop) -> None:
    await regular_with_points(vip_shop)
    body = {"hold_id": "h-1", "member_id": "v-1", "order_id": "o-9", "points": 100}
    first = await vip_shop.client.post("/api/v1/checkout/holds", json=body)
    assert first.status_code == 201
    assert first.json() == {**body, "status": "held"}
    card = await vip_shop.card("v-1")
    assert (card["points"], card["points_held"]) == (208, 100)
    repeat = await vip_shop.client.post("/api/v1/checkout/holds", json=body)
    assert (repeat.status_code, repeat.json()) == (200, first.json())
    card = await vip_shop.card("v-1")
    assert (card["points"], card["points_held"]) == (208, 100)
    other = await vip_shop.client.post("/api/v1/checkout/holds", json={**body, "points": 101})
    assert error(other, 409)["code"] == "idempotency_conflict"


async def test_hold_refusals(vip_shop: Shop) -> None:
    await regular_with_points(vip_shop)
    too_many = {"hold_id": "h-1", "member_id": "v-1", "order_id": "o-9", "points": 309}
    found = error(await vip_shop.client.post("/api/v1/checkout/holds", json=too_many), 409)
    assert found["code"] == "insufficient_points"
    over_cap = {**too_many, "points": 6, "amount_cents": 12_999}
    found = error(await vip_shop.client.post("/api/v1/checkout/holds", json=over_cap), 409)
    assert found["code"] == "over_cap"
    unknown = {**too_many, "member_id": "v-404", "points": 1}
    found = error(await vip_shop.client.post("/api/v1/checkout/holds", json=unknown), 422)
    assert found["code"] == "unknown_reference"
    invalid = {"hold_id": "", "member_id": "v-1", "points": 0, "amount_cents": "12"}
    found = error(await vip_shop.client.post("/api/v1/checkout/holds", json=invalid), 422)
    assert found["details"] == [
        "hold_id: must be a non-empty string",
        "order_id: required",
        "points: must be between 1 and 1000000000",
        "amount_cents: must be an integer",
    ]


async def test_checkout_disabled_by_the_programme_is_409(shop: Shop) -> None:
    await shop.member("m-1")
    await shop.delivered("m-1", 50_000)
    body = {"hold_id": "h-1", "member_id": "m-1", "order_id": "o-9", "points": 10}
    found = error(await shop.client.post("/api/v1/checkout/holds", json=body), 409)
    assert found["code"] == "disabled"


async def test_capture_is_harmless_to_repeat(vip_shop: Shop) -> None:
    await regular_with_points(vip_shop)
    body = {"hold_id": "h-1", "member_id": "v-1", "order_id": "o-9", "points": 8}
    await vip_shop.client.post("/api/v1/checkout/holds", json=body)
    for _ in range(2):
        captured = await vip_shop.client.post("/api/v1/checkout/holds/h-1/capture")
        assert (captured.status_code, captured.json()) == (200, {**body, "status": "captured"})
    card = await vip_shop.card("v-1")
    assert (card["points"], card["points_held"]) == (300, 0)
    release = await vip_shop.client.post("/api/v1/checkout/holds/h-1/release")
    assert error(release, 409)["code"] == "conflict"


async def test_release_gives_points_back_exactly_once(vip_shop: Shop) -> None:
    await regular_with_points(vip_shop)
    body = {"hold_id": "h-2", "member_id": "v-1", "order_id": "o-9", "points": 8}
    await vip_shop.client.post("/api/v1/checkout/holds", json=body)
    for _ in range(3):
        released = await vip_shop.client.post("/api/v1/checkout/holds/h-2/release")
        assert (released.status_code, released.json()) == (200, {**body, "status": "released"})
    card = await vip_shop.card("v-1")
    assert (card["points"], card["points_held"]) == (308, 0)
    capture = await vip_shop.client.post("/api/v1/checkout/holds/h-2/capture")
    assert error(capture, 409)["code"] == "conflict"
    again = await vip_shop.client.post("/api/v1/checkout/holds", json=body)
    assert (again.status_code, again.json()["status"]) == (200, "released")


async def test_unknown_holds_are_404(vip: httpx.AsyncClient) -> None:
    for action in ("capture", "release"):
        response = await vip.post(f"/api/v1/checkout/holds/h-404/{action}")
        assert error(response, 404)["code"] == "not_found"

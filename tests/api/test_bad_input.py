"""What the fault and fuzz runs of issue 17 found, over HTTP: ids the API could not address,
holds that never ended, duplicate JSON keys, link tokens that outlived their replacement, a
review after a return answered 409 for ever."""

from __future__ import annotations

from datetime import timedelta

import httpx

from bot.api.openapi import document
from loyalty.clock import ManualClock
from storage import checkout, links
from storage.store import Store
from tests.api.conftest import AUTH, Shop, app_for, client_for, error, event, make_config
from tests.api.test_checkout import regular_with_points
from tests.conftest import snapshot

HOLD = {"hold_id": "h-1", "member_id": "v-1", "order_id": "o-9", "points": 40}


async def test_ids_with_a_slash_are_refused_at_the_door(vip_shop: Shop, vip_store: Store) -> None:
    """`h/1` was held, then `.../holds/h%2F1/release` was 404: the points stuck for good."""
    await regular_with_points(vip_shop)
    client = vip_shop.client
    before = await snapshot(vip_store)
    found = error(await client.post("/api/v1/checkout/holds", json={**HOLD, "hold_id": "h/1"}), 422)
    assert found["details"] == ['hold_id: must not contain "/" (the API could not address it)']
    member = event("member.upserted", vip_store.now(), member_id="m/2")
    found = error(await client.post("/api/v1/events", json=member), 422)
    assert found["details"] == [
        'data.member_id: must not contain "/" (the API could not address it)'
    ]
    quote = {"member_id": "v/1", "amount_cents": 500}
    assert error(await client.post("/api/v1/checkout/quote", json=quote), 422)["details"] == [
        'member_id: must not contain "/" (the API could not address it)'
    ]
    assert await snapshot(vip_store) == before


def test_the_openapi_document_says_ids_have_no_slash() -> None:
    doc = document()
    schemas = doc["components"]["schemas"]
    pattern = schemas["HoldRequest"]["properties"]["hold_id"]["pattern"]
    assert pattern == r"^[^/]*[^/\s][^/]*$"
    assert (
        schemas["Event.member.upserted"]["properties"]["data"]["properties"]["member_id"]["pattern"]
        == pattern
    )
    for path in ("/api/v1/members/{member_id}", "/api/v1/checkout/holds/{hold_id}/release"):
        (param,) = next(iter(doc["paths"][path].values()))["parameters"]
        assert param["schema"]["pattern"] == pattern, path


async def test_a_hold_neither_captured_nor_released_is_released_after_its_lifetime(
    vip_store: Store, clock: ManualClock
) -> None:
    config = make_config({"preset": "vip-shop"}, hold_minutes=30)
    async with client_for(app_for(vip_store, config=config)) as client:
        shop = Shop(client, vip_store)
        await regular_with_points(shop)
        assert (await client.post("/api/v1/checkout/holds", json=HOLD)).status_code == 201
        second = {**HOLD, "hold_id": "h-2", "points": 10}
        assert (await client.post("/api/v1/checkout/holds", json=second)).status_code == 201
        assert (await shop.card("v-1"))["points_held"] == 50
        clock.advance(minutes=29, seconds=59)
        assert await checkout.release_expired(vip_store, timedelta(minutes=30)) == 0
        clock.advance(seconds=1)
        # The shop comes back too late: the capture is refused, and changes nothing.
        late = await client.post("/api/v1/checkout/holds/h-1/capture")
        assert error(late, 409)["code"] == "hold_expired"
        assert (await shop.card("v-1"))["points_held"] == 50
        # The scheduler's job (bot/jobs.py, expire_holds) gives both back, once.
        assert await checkout.release_expired(vip_store, timedelta(minutes=30)) == 2
        card = await shop.card("v-1")
        assert (card["points"], card["points_held"]) == (308, 0)
        assert await checkout.release_expired(vip_store, timedelta(minutes=30)) == 0
        again = await client.post("/api/v1/checkout/holds/h-1/capture")
        assert error(again, 409)["code"] == "conflict"  # released: as any released hold


async def test_duplicate_json_keys_are_422_and_change_nothing(
    vip_shop: Shop, vip_store: Store
) -> None:
    await regular_with_points(vip_shop)
    client = vip_shop.client
    before = await snapshot(vip_store)
    head = f'{{"type":"member.upserted","occurred_at":"{vip_store.now().isoformat()}",'
    bodies = {
        "/api/v1/events": head + '"id":"a","id":"b","data":{"member_id":"m-5"}}',
        "/api/v1/checkout/holds": '{"hold_id":"h-1","member_id":"v-1","order_id":"o",'
        '"points":1,"points":300}',
        "/api/v1/checkout/quote": '{"member_id":"v-1","amount_cents":1,"amount_cents":2}',
        "/api/v1/events?nested": head + '"id":"c","data":{"member_id":"m-6","member_id":"m-7"}}',
    }
    for path, raw in bodies.items():
        response = await client.post(
            path.split("?")[0], content=raw, headers={"Content-Type": "application/json"}
        )
        found = error(response, 422)
        assert found["code"] == "duplicate_key", path
        assert "appears twice in one object" in found["message"]
    assert await snapshot(vip_store) == before


async def test_a_newer_link_token_revokes_the_older_and_tokens_per_hour_are_limited(
    store: Store, clock: ManualClock
) -> None:
    config = make_config(link_tokens_per_hour=2)
    async with client_for(app_for(store, config=config)) as client:
        await Shop(client, store).member("m-1")
        first = await client.post("/api/v1/members/m-1/link-token")
        second = await client.post("/api/v1/members/m-1/link-token")
        assert first.status_code == second.status_code == 200
        third = await client.post("/api/v1/members/m-1/link-token")
        assert error(third, 429)["code"] == "too_many_tokens"
        assert third.headers["Retry-After"] == "3600"
        clock.advance(hours=1)
        assert (await client.post("/api/v1/members/m-1/link-token")).status_code == 200
    older = first.json()["token"]
    refused = await _refusal(store, older)
    assert refused == "revoked"


async def _refusal(store: Store, token: str) -> str:
    try:
        await links.consume_token(store, token, 4242)
    except links.Refused as exc:
        return exc.code
    raise AssertionError("the token linked")


async def test_a_review_after_the_return_is_a_final_200_that_earned_nothing(
    shop: Shop, store: Store
) -> None:
    await shop.member("m-1")
    order = await shop.delivered("m-1", 50_000)
    await shop.send("order.returned", order_id=order)
    card = await shop.card("m-1")
    review = event("review.submitted", store.now(), "evt-review-late", order_id=order)
    for status in ("processed", "duplicate"):  # the shop retries: the same final answer
        answer = await shop.client.post("/api/v1/events", json=review)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["status"], body["review"], body["points"]) == (status, "not_earned", 0)
        assert body["order_status"] == "returned"
    assert await shop.card("m-1") == card


async def test_bodies_that_broke_the_importer_are_400_here(client: httpx.AsyncClient) -> None:
    for raw in (
        b'{"id":"m\\ud800"}',
        b'{"n":' + b"9" * 4_400 + b"}",
        b'{"id":"\xff"}',
        b"[" * 30_000 + b"]" * 30_000,  # deeper than the parser recurses, under the body limit
    ):
        response = await client.post("/api/v1/events", content=raw, headers=AUTH)
        assert error(response, 400)["code"] == "malformed_json"

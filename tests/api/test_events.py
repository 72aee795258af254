"""POST /api/v1/events over HTTP: processed, duplicate, 409, and 422 listing every problem."""

from __future__ import annotations

import httpx

from storage.store import Store
from tests.api.conftest import Shop, error, event


async def test_an_event_is_processed_once_then_answers_duplicate(shop: Shop, store: Store) -> None:
    await shop.member("m-1")
    body = event("order.placed", store.now(), "evt-o1", order_id="o-1", member_id="m-1",
                 amount_cents=12_999)  # fmt: skip
    first = await shop.client.post("/api/v1/events", json=body)
    assert first.status_code == 200
    assert first.json()["status"] == "processed"
    delivered = await shop.send("order.delivered", "evt-d1", order_id="o-1")
    assert delivered["credited"] == [
        {"member_id": "m-1", "points": 129, "reason": "order"},
        {"member_id": "m-1", "points": 5, "reason": "daily_purchase"},
    ]
    # The same event again, keys in another order: the first answer, marked duplicate.
    again = await shop.client.post(
        "/api/v1/events", json={"data": body["data"], **{k: body[k] for k in reversed(body)}}
    )
    assert again.status_code == 200
    assert again.json() == {**first.json(), "status": "duplicate"}
    repeat = await shop.send("order.delivered", "evt-d1", order_id="o-1")
    assert repeat == {**delivered, "status": "duplicate"}
    assert (await shop.card("m-1"))["points"] == 134


async def test_the_same_id_with_another_body_is_409(shop: Shop, store: Store) -> None:
    await shop.send("member.upserted", "evt-1", member_id="m-1")
    other = event("member.upserted", store.now(), "evt-1", member_id="m-2")
    response = await shop.client.post("/api/v1/events", json=other)
    assert error(response, 409)["code"] == "idempotency_conflict"
    missing = await shop.client.get("/api/v1/members/m-2")
    assert error(missing, 404)["code"] == "not_found"


async def test_422_lists_every_problem(client: httpx.AsyncClient, store: Store) -> None:
    body = {
        "type": "order.placed",
        "occurred_at": "yesterday",
        "data": {"member_id": "", "amount_cents": True, "coupon": "X"},
        "extra": 1,
    }
    found = error(await client.post("/api/v1/events", json=body), 422)
    assert found["code"] == "invalid"
    details = found["details"]
    for expected in (
        "extra: unknown field",
        "id: required",
        "occurred_at: 'yesterday' is not an ISO 8601 time",
        "data.coupon: unknown field",
        "data.order_id: required",
        "data.member_id: must be a non-empty string",
        "data.amount_cents: must be an integer number of cents",
    ):
        assert any(d.startswith(expected) for d in details), (expected, details)
    assert len(details) == 7


async def test_422_for_amounts_types_and_unknown_type(
    client: httpx.AsyncClient, store: Store
) -> None:
    now = store.now()
    cases = {
        "data.amount_cents: must be between 0 and 100000000": event(
            "order.placed", now, order_id="o", member_id="m", amount_cents=-1),
        "data.amount_cents: must be between": event(
            "order.placed", now, order_id="o", member_id="m", amount_cents=10**12),
        "data.amount_cents: must be an integer": event(
            "order.placed", now, order_id="o", member_id="m", amount_cents=12.5),
        "data.order_id: must be a non-empty string": event("order.paid", now, order_id=7),
        "type: unknown event type 'order.shipped'": event("order.shipped", now, order_id="o"),
        "occurred_at: needs a UTC offset": {**event("order.paid", now, order_id="o"),
                                            "occurred_at": "2026-03-10T09:00:00"},
        "occurred_at: is in the future": {**event("order.paid", now, order_id="o"),
                                          "occurred_at": "2099-01-01T00:00:00+00:00"},
        "data: required, a JSON object": {**event("order.paid", now), "data": [1]},
        "body: must be a JSON object": [1, 2],
        "type: unknown event type (not a string)": {**event("order.paid", now), "type": {}},
    }  # fmt: skip
    for expected, body in cases.items():
        found = error(await client.post("/api/v1/events", json=body), 422)
        assert any(d.startswith(expected) for d in found["details"]), (expected, found)


async def test_unknown_member_or_order_is_422_and_says_which(shop: Shop, store: Store) -> None:
    now = store.now()
    placed = event("order.placed", now, order_id="o-1", member_id="m-404", amount_cents=500)
    found = error(await shop.client.post("/api/v1/events", json=placed), 422)
    assert found["code"] == "unknown_reference"
    assert "m-404" in found["message"]
    delivered = event("order.delivered", now, order_id="o-404")
    found = error(await shop.client.post("/api/v1/events", json=delivered), 422)
    assert "o-404" in found["message"]
    # Nothing was recorded: after the member exists, the same event id is processed.
    await shop.member("m-404")
    again = await shop.client.post("/api/v1/events", json=placed)
    assert again.json()["status"] == "processed"


async def test_an_event_the_order_cannot_follow_is_409(shop: Shop) -> None:
    await shop.member("m-1")
    await shop.send("order.placed", order_id="o-1", member_id="m-1", amount_cents=900)
    await shop.send("order.cancelled", order_id="o-1")
    response = await shop.client.post(
        "/api/v1/events", json=event("order.delivered", shop.store.now(), order_id="o-1")
    )
    assert error(response, 409)["code"] == "conflict"


async def test_member_upserted_with_referred_by_wires_the_referral(shop: Shop) -> None:
    await shop.member("m-1")
    answer = await shop.send("member.upserted", member_id="m-2", referred_by="m-1",
                             email="new@example.com", name="New Member", language="en")  # fmt: skip
    assert answer["created"] is True
    assert (await shop.card("m-1"))["points"] == 50  # the referrer's bonus (marketplace)
    assert (await shop.card("m-1"))["level"]["code"] == "A0"  # A1 needs a delivered order
    unknown = event("member.upserted", shop.store.now(), member_id="m-3", referred_by="m-9")
    found = error(await shop.client.post("/api/v1/events", json=unknown), 422)
    assert "m-9" in found["message"]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    for raw in (b"{", b"", b"\xff\xfe", b'{"id": NaN}', b'["\\ud800"]', b"[" * 5000 + b"]" * 5000):
        found = error(await client.post("/api/v1/events", content=raw), 400)
        assert found["code"] == "malformed_json"


async def test_event_metrics_by_type_and_outcome(shop: Shop) -> None:
    await shop.send("member.upserted", "e-1", member_id="m-1")
    await shop.send("member.upserted", "e-1", member_id="m-1")
    bad = event("order.paid", shop.store.now(), order_id="o-404")
    await shop.client.post("/api/v1/events", json=bad)
    text = (await shop.client.get("/metrics")).text
    for line in (
        'loyalty_shop_events_total{outcome="processed",type="member.upserted"} 1.0',
        'loyalty_shop_events_total{outcome="duplicate",type="member.upserted"} 1.0',
        'loyalty_shop_events_total{outcome="rejected",type="order.paid"} 1.0',
        'loyalty_shop_event_duration_seconds_count{type="member.upserted"} 2.0',
    ):
        assert line in text, line

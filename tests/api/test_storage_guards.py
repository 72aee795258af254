"""Store changes made for the API: a machine-readable code for a reused idempotency key, and
event times that cannot be stored (before 2000, or near year 1) refused as invalid."""

from __future__ import annotations

import pytest

from storage import checkout, events
from storage.errors import Conflict, Invalid
from storage.store import Store
from tests.conftest import delivered_order, event_body, member, send


async def test_a_reused_event_id_is_an_idempotency_conflict(store: Store) -> None:
    await member(store, "m-1")
    with pytest.raises(Conflict) as caught:
        await send(store, "member.upserted", "evt-1", member_id="m-2")
        await send(store, "member.upserted", "evt-1", member_id="m-3")
    assert caught.value.code == "idempotency_conflict"
    # The message names the shop's own id, not the store's internal key ("event:evt-1").
    assert caught.value.message == "event id 'evt-1' was already used with a different body"


async def test_a_reused_hold_id_is_an_idempotency_conflict(vip_store: Store) -> None:
    await member(vip_store, "m-1")
    await send(vip_store, "member.email_verified", member_id="m-1")
    await delivered_order(vip_store, "m-1", 50_000, "o-1")
    await send(vip_store, "review.submitted", order_id="o-1")  # 1% of $500: 5 points
    await checkout.hold(vip_store, "h-1", "m-1", "o-2", 2)
    with pytest.raises(Conflict) as caught:
        await checkout.hold(vip_store, "h-1", "m-1", "o-2", 3)
    assert caught.value.code == "idempotency_conflict"


@pytest.mark.parametrize(
    "instant",
    ["0001-01-01T00:00:00+01:00", "0001-01-01T00:30:00+00:00", "1999-12-31T23:59:59+00:00"],
)
async def test_event_times_before_2000_are_invalid(store: Store, instant: str) -> None:
    await member(store, "m-1")
    body = event_body(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=500)
    with pytest.raises(Invalid) as caught:
        await events.apply_event(store, {**body, "occurred_at": instant})
    assert caught.value.details == ["occurred_at: before 2000-01-01"]


@pytest.mark.parametrize("type_", [{}, [], 1.5, None])
async def test_an_event_type_that_is_not_a_string_is_invalid(store: Store, type_: object) -> None:
    body = {**event_body(store, "order.paid", order_id="o-1"), "type": type_}
    with pytest.raises(Invalid) as caught:
        await events.apply_event(store, body)
    assert caught.value.details[0].startswith("type: unknown event type")

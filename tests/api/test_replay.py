"""A whole day of shop events through HTTP, then the same day again shuffled and concurrent:
every answer is `duplicate` and every balance is as after the first pass."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from loyalty.clock import ManualClock
from storage import check
from storage.store import Store

DAY = datetime(2026, 3, 9, tzinfo=UTC)  # the day before the store's clock (tests/conftest.py)


def day_of_events(seed: int, members: int = 40, orders: int = 200) -> list[dict[str, Any]]:
    """A shop's day: sign-ups (some referred, some verified), then orders interleaved, each
    placed, paid and delivered, some reviewed, returned, cancelled or lost in transit."""
    rng = random.Random(seed)
    first: list[tuple[str, dict[str, Any]]] = []
    for m in range(members):
        referral = {"referred_by": f"m-{rng.randrange(m)}"} if m and rng.random() < 0.3 else {}
        first.append(("member.upserted", {"member_id": f"m-{m}", "language": "en", **referral}))
        if rng.random() < 0.5:
            first.append(("member.email_verified", {"member_id": f"m-{m}"}))
    chains: list[list[tuple[str, dict[str, Any]]]] = []
    for o in range(orders):
        order = {"order_id": f"o-{o}"}
        chain = [("order.placed", {**order, "member_id": f"m-{rng.randrange(members)}",
                                   "amount_cents": rng.randrange(100, 90_000)})]  # fmt: skip
        fate = rng.random()
        if fate < 0.1:
            chain.append(("order.cancelled", order))
        elif fate < 0.15:
            chain.append(("order.not_delivered", order))
        else:
            chain += [("order.paid", order), ("order.delivered", order)]
            if rng.random() < 0.4:
                chain.append(("review.submitted", order))
            if rng.random() < 0.15:
                chain.append(("order.returned", order))
        chains.append(chain)
    ordered = list(first)
    while chains:  # interleave the orders, each chain in its own order
        chain = rng.choice(chains)
        ordered.append(chain.pop(0))
        if not chain:
            chains.remove(chain)
    step = timedelta(days=1) / len(ordered)
    return [
        {"id": f"evt-{n}", "type": t, "occurred_at": (DAY + n * step).isoformat(), "data": d}
        for n, (t, d) in enumerate(ordered)
    ]


async def balances(client: httpx.AsyncClient, members: int) -> dict[str, dict[str, Any]]:
    cards = {}
    for m in range(members):
        card = (await client.get(f"/api/v1/members/m-{m}")).json()
        cards[card["member_id"]] = card
    return cards


async def test_replaying_a_day_shuffled_changes_no_balance(
    client: httpx.AsyncClient, store: Store, clock: ManualClock
) -> None:
    events = day_of_events(seed=11)
    for body in events:
        response = await client.post("/api/v1/events", json=body)
        assert response.json()["status"] == "processed", (body, response.text)
    after_first = await balances(client, 40)
    assert sum(c["points"] for c in after_first.values()) > 10_000
    assert {c["level"]["code"] for c in after_first.values()} >= {"A2", "A3"}

    clock.advance(hours=5)  # later the same day: the shop replays its whole log, shuffled
    shuffled = random.Random(3).sample(events, len(events))
    gate = asyncio.Semaphore(8)

    async def resend(body: dict[str, Any]) -> str:
        async with gate:
            response = await client.post("/api/v1/events", json=body)
            return str(response.json()["status"])

    statuses = await asyncio.gather(*(resend(body) for body in shuffled))
    assert set(statuses) == {"duplicate"}
    assert await balances(client, 40) == after_first
    assert await check.check(store) == []

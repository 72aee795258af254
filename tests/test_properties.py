"""Random sequences of operations keep the store's invariants after every step.

Hypothesis reuses function-scoped fixtures across examples, so each example opens its own
store in a fresh temporary directory and runs its steps in its own event loop.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.calendar import programme_day
from loyalty.clock import ManualClock
from loyalty.levels import tier_for
from loyalty.loader import load_program
from storage import checkout, coupons, daily, members
from storage.check import check
from storage.db import Conn, from_db
from storage.errors import OperationError
from storage.events import apply_event
from storage.grants import grant
from storage.store import Store
from tests.conftest import event_body, open_store, rows, snapshot

MEMBERS = ("m0", "m1", "m2")
ORDER_EVENTS = (
    "order.paid", "order.delivered", "order.returned", "order.not_delivered",
    "order.cancelled", "review.submitted",
)  # fmt: skip
STARTS = (
    datetime(2026, 3, 10, 9, tzinfo=UTC),
    datetime(2026, 6, 29, 14, tzinfo=UTC),  # a day and a half before the burn (UTC)
    datetime(2026, 12, 31, 20, tzinfo=UTC),
)
ZONES = ("UTC", "Asia/Shanghai", "America/Los_Angeles")

# Orders o0..o5 are placed by `setup`; o6..o8 only if a step places them.
SEEDED_ORDERS = ((0, 60_000), (1, 20_000), (2, 5_000), (0, 201), (1, 200), (0, 250_000))
member_ix = st.integers(0, len(MEMBERS) - 1)
order_ix = st.integers(0, 8)
hold_ix = st.integers(0, 2)
amounts = st.sampled_from([0, 199, 200, 201, 4_999, 5_000, 9_999, 20_000, 60_000, 250_000])

deliver = st.tuples(st.just("order.delivered"), order_ix)
take_back = st.tuples(st.sampled_from(["order.returned", "order.not_delivered"]), order_ix)
order_event = st.tuples(st.sampled_from(ORDER_EVENTS), order_ix)
exchange = st.tuples(
    st.just("exchange"),
    st.sampled_from([0, 0, 1, 2]),  # mostly the member with points and coins
    st.sampled_from([500, 1_000, 2_000]),
    st.sampled_from(["points", "coins"]),
    st.integers(0, 8),  # few keys: repeats (and repeats with another body) happen
)
hold = st.tuples(
    st.just("hold"), hold_ix, st.sampled_from([0, 0, 1, 2]), order_ix, st.integers(1, 12),
    st.booleans(),
)  # fmt: skip
settle = st.tuples(st.sampled_from(["capture", "release"]), hold_ix)
claim = st.tuples(st.just("claim"), member_ix)
advance = st.tuples(st.just("advance"), st.integers(60, 30 * 3600))  # up to 30 hours

# Branches repeated to weight them: hypothesis picks among one_of's branches evenly.
operation = st.one_of(
    deliver, deliver, deliver, take_back, take_back, order_event, order_event,
    exchange, exchange, exchange, hold, hold, settle, settle, claim, claim, advance, advance,
    st.tuples(st.just("join"), st.integers(3, 5), st.one_of(st.none(), member_ix)),
    st.tuples(st.just("verify"), member_ix),
    st.tuples(st.just("place"), st.integers(6, 8), member_ix, amounts),
    st.tuples(st.just("redeliver"), order_ix),  # the same delivery under a new event id
    st.tuples(
        st.just("grant"),
        member_ix,
        st.integers(-2_500, 2_500).filter(bool),
        st.sampled_from(["points", "coins"]),
        st.one_of(st.none(), st.integers(0, 3)),
    ),
    st.tuples(st.just("goodwill"), member_ix, st.integers(0, 3)),
    st.tuples(st.just("leap"), st.integers(1, 40)),  # days: validity, burn and the window
    st.tuples(st.just("expire")),
    st.tuples(st.just("recompute")),
)  # fmt: skip


async def event(store: Store, kind: str, **data: Any) -> None:
    await apply_event(store, event_body(store, kind, **data))


async def setup(store: Store) -> None:
    for member_id in MEMBERS:
        referred = {"referred_by": "m0"} if member_id == "m2" else {}
        await event(store, "member.upserted", member_id=member_id, **referred)
    for member_id in ("m0", "m1"):  # m2 stays unverified (Unverified in vip-shop)
        await event(store, "member.email_verified", member_id=member_id)
    await grant(store, "m0", 3_000, reason="seed", actor="test")
    await grant(store, "m0", 1_000, reason="seed", actor="test", currency="coins")
    await grant(store, "m1", 600, reason="seed", actor="test")
    for i, (m, amount) in enumerate(SEEDED_ORDERS):
        await event(store, "order.placed", order_id=f"o{i}", member_id=MEMBERS[m],
                    amount_cents=amount)  # fmt: skip


async def step(store: Store, clock: ManualClock, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "join":
        referred = {} if op[2] is None else {"referred_by": MEMBERS[op[2]]}
        await event(store, "member.upserted", member_id=f"m{op[1]}", **referred)
    elif kind == "verify":
        await event(store, "member.email_verified", member_id=MEMBERS[op[1]])
    elif kind == "place":
        await event(store, "order.placed", order_id=f"o{op[1]}", member_id=MEMBERS[op[2]],
                    amount_cents=op[3])  # fmt: skip
    elif kind in ORDER_EVENTS:
        await event(store, kind, order_id=f"o{op[1]}")
    elif kind == "redeliver":
        await event(store, "order.delivered", order_id=f"o{op[1]}")
    elif kind == "exchange":
        _, m, value, currency, key = op
        await coupons.exchange(store, MEMBERS[m], value, currency, key=f"x{key}")
    elif kind == "claim":
        await daily.claim(store, MEMBERS[op[1]])
    elif kind == "hold":
        _, h, m, o, points, with_amount = op
        await checkout.hold(store, f"h{h}", MEMBERS[m], f"o{o}", points,
                            amount_cents=20_000 if with_amount else None)  # fmt: skip
    elif kind == "capture":
        await checkout.capture(store, f"h{op[1]}")
    elif kind == "release":
        await checkout.release(store, f"h{op[1]}")
    elif kind == "grant":
        _, m, amount, currency, key = op
        await grant(store, MEMBERS[m], amount, reason="random", actor="test", currency=currency,
                    key=None if key is None else f"g{key}")  # fmt: skip
    elif kind == "goodwill":
        await coupons.issue_goodwill(store, MEMBERS[op[1]], 500, reason="sorry", actor="test",
                                     key=f"gw{op[2]}")  # fmt: skip
    elif kind == "advance":
        clock.advance(seconds=op[1])
    elif kind == "leap":
        clock.advance(days=op[1])
    elif kind == "expire":
        await coupons.expire(store)
    elif kind == "recompute":
        await members.recompute_levels(store)
    else:  # pragma: no cover - a typo in the strategy
        raise AssertionError(kind)


async def assert_invariants(store: Store) -> None:
    # Cached balances equal their ledger sums, points_held equals the open holds, every coupon
    # has the debit that paid for it, every balance_after is the running sum.
    assert await check(store) == []
    negative = await rows(
        store, "SELECT member_id FROM members WHERE points < 0 OR coins < 0 OR points_held < 0"
    )
    assert negative == []
    held = await rows(
        store,
        "SELECT m.member_id, m.points_held, (SELECT COALESCE(SUM(points), 0) FROM holds h"
        " WHERE h.member_id = m.member_id AND h.status = 'held') AS open FROM members m",
    )
    assert all(r["points_held"] == r["open"] for r in held)
    # The daily limit, counted per programme day in the programme's zone.
    limit = store.program.coupons.daily_limit
    per_day: dict[tuple[str, str], int] = {}
    for r in await rows(
        store, "SELECT member_id, issued_at, issued_day FROM coupons WHERE paid_with != 'goodwill'"
    ):
        day = programme_day(store.program, from_db(r["issued_at"])).isoformat()
        assert day == r["issued_day"]
        per_day[(r["member_id"], day)] = per_day.get((r["member_id"], day), 0) + 1
    assert all(n <= limit for n in per_day.values()), per_day
    # An order earns once.
    doubled = await rows(
        store,
        "SELECT ref, reason, COUNT(*) FROM ledger WHERE reason IN ('order', 'review')"
        " GROUP BY ref, reason HAVING COUNT(*) > 1",
    )
    assert doubled == []
    # Only delivered orders keep their points toward the level; a take-back cancels exactly
    # what its order earned, never more.
    kept = await rows(
        store,
        "SELECT o.order_id, o.status, COALESCE(SUM(l.level_points), 0) AS net FROM orders o"
        " LEFT JOIN ledger l ON l.ref = o.order_id GROUP BY o.order_id"
        " HAVING (o.status != 'delivered' AND net != 0)"
        " OR (o.status = 'delivered' AND SUM(l.reason = 'clawback') > 0)",
    )
    assert kept == [], [tuple(r) for r in kept]


async def run(preset: str, zone: str, start: datetime, ops: list[tuple[Any, ...]]) -> None:
    clock = ManualClock(start)
    program = load_program({"preset": preset, "timezone": zone})
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(Path(tmp) / "p.db", program, clock)
        try:
            await setup(store)
            await assert_invariants(store)
            for op in ops:
                before = await snapshot(store)
                try:
                    await step(store, clock, op)
                except OperationError:
                    # A refusal changes nothing at all.
                    assert await snapshot(store) == before, op
                await assert_invariants(store)
            # After the daily recompute every stored level is the live one.
            await members.recompute_levels(store)
            for member_id in [r[0] for r in await rows(store, "SELECT member_id FROM members")]:
                view = await members.view(store, member_id)
                stored = await rows(
                    store, "SELECT level_code FROM members WHERE member_id = ?", (member_id,)
                )
                assert stored[0][0] == view.tier.code == tier_for(program, view.standing).code
        finally:
            await store.close()


COMMON = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@COMMON
@given(
    zone=st.sampled_from(ZONES),
    start=st.sampled_from(STARTS),
    ops=st.lists(operation, min_size=10, max_size=40),
)
def test_marketplace_invariants(zone: str, start: datetime, ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(run("marketplace", zone, start, ops))


@COMMON
@given(
    zone=st.sampled_from(ZONES),
    start=st.sampled_from(STARTS),
    ops=st.lists(operation, min_size=10, max_size=40),
)
def test_vip_shop_invariants(zone: str, start: datetime, ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(run("vip-shop", zone, start, ops))


def test_a_long_fixed_walk_across_the_burn() -> None:
    """A deterministic sequence touching every operation, across 30 June in Shanghai."""
    ops: list[tuple[Any, ...]] = [
        ("place", 0, 0, 60_000), ("order.delivered", 0), ("review.submitted", 0),
        ("claim", 0), ("exchange", 0, 500, "points", 1), ("exchange", 0, 500, "coins", 2),
        ("exchange", 0, 500, "points", 3), ("exchange", 0, 500, "points", 4),
        ("advance", 11 * 3600), ("claim", 0), ("exchange", 0, 500, "points", 5),
        ("order.returned", 0), ("grant", 0, -5_000, "points", None), ("expire",),
        ("leap", 1), ("expire",), ("place", 1, 1, 250_000), ("order.delivered", 1),
        ("hold", 0, 1, 1, 3, True), ("order.paid", 1), ("goodwill", 1, 0),
        ("leap", 31), ("expire",), ("recompute",),
    ]  # fmt: skip
    asyncio.run(run("marketplace", "Asia/Shanghai", STARTS[1], ops))
    asyncio.run(run("vip-shop", "America/Los_Angeles", STARTS[1], ops))


def test_invariants_catch_a_broken_store() -> None:
    """The property checks are not vacuous: a tampered balance fails them."""

    def tamper(conn: Conn) -> None:
        conn.execute("UPDATE members SET points = points + 1")

    async def tampered() -> None:
        clock = ManualClock(STARTS[0])
        with tempfile.TemporaryDirectory() as tmp:
            store = await open_store(
                Path(tmp) / "p.db", load_program({"preset": "marketplace"}), clock
            )
            try:
                await setup(store)
                await store.db.write(tamper)
                try:
                    await assert_invariants(store)
                except AssertionError:
                    return
                raise AssertionError("the invariants did not notice a tampered balance")
            finally:
                await store.close()

    asyncio.run(tampered())

"""Simultaneous requests: the same points are never spent twice, once-only things happen once."""

from __future__ import annotations

import asyncio
from typing import Any

from storage import checkout, coupons, daily, members
from storage.check import check
from storage.errors import OperationError, Refused
from storage.grants import grant
from storage.store import Store
from tests.conftest import StoreOpener, member, rows, scalar, send


def outcomes(results: list[Any]) -> tuple[list[Any], list[BaseException]]:
    """Split gather(return_exceptions=True) results; anything but a refusal is a test failure."""
    ok = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    unexpected = [r for r in failed if not isinstance(r, OperationError)]
    assert not unexpected, unexpected
    return ok, failed


async def test_fifty_simultaneous_exchanges_spend_the_points_once(store: Store) -> None:
    await member(store)
    await grant(store, "m-1", 1_000, reason="exactly two coupons", actor="test")
    results = await asyncio.gather(
        *(coupons.exchange(store, "m-1", 500, "points", key=f"k-{i}") for i in range(50)),
        return_exceptions=True,
    )
    ok, failed = outcomes(results)
    assert len(ok) == 2
    assert sorted(e.balance_after for e in ok) == [0, 500]
    assert all(isinstance(e, Refused) and e.code == "insufficient" for e in failed)
    assert (await members.view(store, "m-1")).points == 0
    assert await scalar(store, "SELECT COUNT(*) FROM coupons") == 2
    assert await scalar(store, "SELECT COUNT(*) FROM ledger WHERE reason = 'coupon'") == 2
    assert await check(store) == []


async def test_simultaneous_exchanges_respect_the_daily_limit(store: Store) -> None:
    await member(store)
    await grant(store, "m-1", 100_000, reason="plenty", actor="test")
    results = await asyncio.gather(
        *(coupons.exchange(store, "m-1", 500, "points", key=f"k-{i}") for i in range(30)),
        *(coupons.exchange(store, "m-1", 500, "coins", key=f"c-{i}") for i in range(10)),
        return_exceptions=True,
    )
    ok, failed = outcomes(results)
    assert len(ok) == 3
    assert {e.currency for e in ok} == {"points"}  # the member has no coins
    assert {e.code for e in failed} <= {"daily_limit", "insufficient"}
    assert (await members.view(store, "m-1")).points == 100_000 - 1_500
    assert await check(store) == []


async def test_parallel_exchanges_with_the_same_key_return_one_coupon(store: Store) -> None:
    await member(store)
    await grant(store, "m-1", 5_000, reason="funds", actor="test")
    results = await asyncio.gather(
        *(coupons.exchange(store, "m-1", 1_000, "points", key="double-tap") for _ in range(20))
    )
    assert len({r.coupon.code for r in results}) == 1
    assert all(r.to_dict() == results[0].to_dict() for r in results)
    assert (await members.view(store, "m-1")).points == 4_000
    assert await scalar(store, "SELECT COUNT(*) FROM coupons") == 1


async def test_twenty_simultaneous_daily_claims_credit_once(store: Store) -> None:
    await member(store)
    claims = await asyncio.gather(*(daily.claim(store, "m-1") for _ in range(20)))
    assert sum(c.claimed for c in claims) == 1
    view = await members.view(store, "m-1")
    assert (view.coins, view.points, view.coin_streak) == (10, 20, 1)
    assert await scalar(store, "SELECT COUNT(*) FROM ledger") == 2


async def test_twenty_simultaneous_releases_credit_once(vip_store: Store) -> None:
    await member(vip_store)
    await send(vip_store, "member.email_verified", member_id="m-1")
    await checkout.hold(vip_store, "h-1", "m-1", "o-1", 4)
    released = await asyncio.gather(*(checkout.release(vip_store, "h-1") for _ in range(20)))
    assert {h.status for h in released} == {"released"}
    view = await members.view(vip_store, "m-1")
    assert (view.points, view.points_held) == (5, 0)
    found = await rows(vip_store, "SELECT amount FROM ledger WHERE reason = 'hold_release'")
    assert [r[0] for r in found] == [4]
    assert await check(vip_store) == []


async def test_simultaneous_holds_never_exceed_the_balance(vip_store: Store) -> None:
    await member(vip_store)
    await send(vip_store, "member.email_verified", member_id="m-1")  # 5 points
    results = await asyncio.gather(
        *(checkout.hold(vip_store, f"h-{i}", "m-1", f"o-{i}", 1) for i in range(20)),
        return_exceptions=True,
    )
    ok, failed = outcomes(results)
    assert len(ok) == 5
    assert len(failed) == 15
    view = await members.view(vip_store, "m-1")
    assert (view.points, view.points_held) == (0, 5)
    assert await check(vip_store) == []


async def test_simultaneous_capture_and_release_one_wins(vip_store: Store) -> None:
    await member(vip_store)
    await send(vip_store, "member.email_verified", member_id="m-1")
    await checkout.hold(vip_store, "h-1", "m-1", "o-1", 3)
    results = await asyncio.gather(
        *(checkout.capture(vip_store, "h-1") for _ in range(5)),
        *(checkout.release(vip_store, "h-1") for _ in range(5)),
        return_exceptions=True,
    )
    ok, failed = outcomes(results)
    statuses = {h.status for h in ok}
    assert len(statuses) == 1 and len(ok) == 5 and len(failed) == 5
    final = await scalar(vip_store, "SELECT status FROM holds")
    assert statuses == {final}
    view = await members.view(vip_store, "m-1")
    assert (view.points, view.points_held) == ((5, 0) if final == "released" else (2, 0))
    assert await check(vip_store) == []


async def test_two_store_objects_racing_on_one_file(store: Store, stores: StoreOpener) -> None:
    """Two databases objects, as two processes would have: SQLite's BEGIN IMMEDIATE serialises
    them, PostgreSQL's SERIALIZABLE runs the losers again."""
    other = await stores.another(store)
    await member(store)
    await grant(store, "m-1", 1_000, reason="exactly two coupons", actor="test")
    results = await asyncio.gather(
        *(
            coupons.exchange(s, "m-1", 500, "points", key=f"{n}-{i}")
            for i in range(25)
            for n, s in (("a", store), ("b", other))
        ),
        return_exceptions=True,
    )
    ok, failed = outcomes(results)
    assert len(ok) == 2
    assert len(failed) == 48
    for s in (store, other):
        assert (await members.view(s, "m-1")).points == 0
        assert await scalar(s, "SELECT COUNT(*) FROM coupons") == 2
        assert await check(s) == []
    claims = await asyncio.gather(
        *(daily.claim(s, "m-1") for _ in range(10) for s in (store, other))
    )
    assert sum(c.claimed for c in claims) == 1
    assert (await members.view(other, "m-1")).coins == 10

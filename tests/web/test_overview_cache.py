"""The overview's memory of finished days gives exactly what a fresh read gives, day after day."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from loyalty.clock import ManualClock
from storage import console, coupons, daily, grants
from storage.store import Store
from tests.conftest import delivered_order, member


def comparable(seen: console.Overview) -> console.Overview:
    return replace(seen, timings={})


async def test_cached_and_fresh_overviews_agree_across_days(
    store: Store, clock: ManualClock
) -> None:
    cache = console.OverviewCache()
    await member(store, "m-1")
    await member(store, "m-2")
    for day in range(40):
        if day % 3 == 0:
            await delivered_order(store, "m-1", 50_000 + day)
        if day % 5 == 0:
            await daily.claim(store, "m-2")
        if day == 20:
            await coupons.exchange(store, "m-1", 500, "points", "x-1")
            await grants.grant(store, "m-2", -1, reason="fix", actor="t")
        cached = await console.overview(store, cache)
        fresh = await console.overview(store)
        assert comparable(cached) == comparable(fresh), day
        clock.advance(timedelta(hours=23))
    assert sum(d.earned for d in fresh.points_by_day) > 0
    assert fresh.members_active == 2
    clock.advance(timedelta(days=31))
    assert (await console.overview(store, cache)).members_active == 0
    assert len(cache.members) <= console.ACTIVE_DAYS
    assert len(cache.days) <= console.OVERVIEW_DAYS

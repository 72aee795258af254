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


async def test_days_are_programme_days(make_store, clock: ManualClock) -> None:
    """A grant at 20:00 UTC is on the next day in Singapore (UTC+8)."""
    store = await make_store("marketplace", timezone="Asia/Singapore")
    await member(store, "m-1")
    clock.advance(timedelta(hours=11))  # START is 09:00 UTC: now 20:00 UTC, 04:00 next day there
    await grants.grant(store, "m-1", 7, reason="r", actor="t")
    days = (await console.overview(store, console.OverviewCache())).points_by_day
    assert days[-1].day.isoformat() == "2026-03-11" and days[-1].earned == 7
    assert days[-2].earned == 0

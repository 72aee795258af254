"""The daily check-in: once a programme day, the coin streak, and points toward the level."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from loyalty.calendar import programme_day
from loyalty.clock import ManualClock
from storage import daily, members
from storage.check import check
from storage.errors import Invalid, NotFound, Refused
from storage.store import Store
from tests.conftest import StoreFactory, delivered_order, member, rows, snapshot

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_once_per_programme_day(store: Store, clock: ManualClock) -> None:
    await member(store)
    first = await daily.claim(store, "m-1")
    assert (first.claimed, first.coins, first.points, first.streak) == (True, 10, 20, 1)
    assert (first.coins_balance, first.points_balance) == (10, 20)
    assert first.tomorrow_coins == 10
    assert first.next_claim_at == datetime(2026, 3, 11, tzinfo=UTC)
    before = await snapshot(store)
    clock.set(datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC))
    second = await daily.claim(store, "m-1")
    assert (second.claimed, second.coins, second.points) == (False, 0, 0)
    assert second.next_claim_at == datetime(2026, 3, 11, tzinfo=UTC)
    assert (second.coins_balance, second.points_balance, second.streak) == (10, 20, 1)
    assert second.tomorrow_coins == 10
    assert await snapshot(store) == before
    view = await members.view(store, "m-1")
    assert (view.coins, view.points, view.coin_streak) == (10, 20, 1)
    assert view.last_claim_day == date(2026, 3, 10)


async def test_day_boundary_in_shanghai(make_store: StoreFactory, clock: ManualClock) -> None:
    store = await make_store("marketplace", timezone="Asia/Shanghai")
    clock.set(datetime(2026, 3, 10, 0, 30, tzinfo=SHANGHAI))  # 16:30 UTC on 9 March
    await member(store)
    first = await daily.claim(store, "m-1")
    assert first.claimed
    assert first.next_claim_at == datetime(2026, 3, 11, tzinfo=SHANGHAI)
    clock.set(datetime(2026, 3, 10, 23, 59, 59, tzinfo=SHANGHAI))  # 15:59:59 UTC, 10 March
    late = await daily.claim(store, "m-1")
    assert not late.claimed
    assert late.next_claim_at.astimezone(UTC) == datetime(2026, 3, 10, 16, tzinfo=UTC)
    clock.advance(seconds=1)  # 00:00:00 on 11 March in Shanghai
    nxt = await daily.claim(store, "m-1")
    assert (nxt.claimed, nxt.streak, nxt.coins) == (True, 2, 10)
    assert (await members.view(store, "m-1")).last_claim_day == date(2026, 3, 11)


async def test_streak_schedule_and_day_eight_on(store: Store, clock: ManualClock) -> None:
    await member(store)
    paid, streaks, tomorrow = [], [], []
    for _ in range(10):
        c = await daily.claim(store, "m-1")
        paid.append(c.coins)
        streaks.append(c.streak)
        tomorrow.append(c.tomorrow_coins)
        clock.advance(days=1)
    assert paid == [10, 10, 15, 15, 20, 20, 30, 30, 30, 30]
    assert streaks == list(range(1, 11))
    assert tomorrow == [10, 15, 15, 20, 20, 30, 30, 30, 30, 30]
    view = await members.view(store, "m-1")
    assert (view.coins, view.points) == (sum(paid), 20 * 10)
    assert await check(store) == []


async def test_a_missed_day_restarts_the_streak(store: Store, clock: ManualClock) -> None:
    await member(store)
    for _ in range(5):
        await daily.claim(store, "m-1")
        clock.advance(days=1)
    clock.advance(days=1)  # one day without a claim
    restarted = await daily.claim(store, "m-1")
    assert (restarted.streak, restarted.coins) == (1, 10)
    clock.advance(days=1)
    assert (await daily.claim(store, "m-1")).streak == 2


async def test_claims_at_the_edges_of_consecutive_days_keep_the_streak(
    store: Store, clock: ManualClock
) -> None:
    await member(store)
    clock.set(datetime(2026, 3, 10, 0, 0, 0, tzinfo=UTC))
    await daily.claim(store, "m-1")
    clock.set(datetime(2026, 3, 11, 23, 59, 59, tzinfo=UTC))  # almost 48 hours later
    assert (await daily.claim(store, "m-1")).streak == 2
    clock.set(datetime(2026, 3, 13, 0, 0, 0, tzinfo=UTC))  # 12 March skipped
    assert (await daily.claim(store, "m-1")).streak == 1


async def test_daily_points_count_toward_the_level(store: Store, clock: ManualClock) -> None:
    await member(store)
    await delivered_order(store, "m-1", 7_600)  # 76 + 5 = 81 points: A1
    assert (await members.view(store, "m-1")).tier.code == "A1"
    claim = await daily.claim(store, "m-1")  # 101: A2
    assert claim.level_change is not None
    assert (claim.level_change.old_code, claim.level_change.new_code) == ("A1", "A2")
    assert claim.level_change.up
    view = await members.view(store, "m-1")
    assert (view.points, view.standing.points, view.tier.code) == (101, 101, "A2")
    stored = await rows(store, "SELECT level_code FROM members")
    assert stored[0][0] == "A2"
    clock.advance(days=1)
    assert (await daily.claim(store, "m-1")).level_change is None


async def test_ledger_rows_of_a_claim(store: Store) -> None:
    await member(store)
    await daily.claim(store, "m-1")
    found = await rows(
        store, "SELECT currency, amount, reason, idem_key, level_points FROM ledger ORDER BY id"
    )
    assert [tuple(r) for r in found] == [
        ("coins", 10, "daily_coins", "daily:m-1:2026-03-10:coins", 0),
        ("points", 20, "daily_checkin", "daily:m-1:2026-03-10:points", 20),
    ]


async def test_refused_where_nothing_is_paid_and_unknown_member(
    store: Store, vip_store: Store
) -> None:
    await member(vip_store)
    with pytest.raises(Refused) as caught:
        await daily.claim(vip_store, "m-1")
    assert caught.value.code == "disabled"
    assert not daily.enabled(vip_store)
    with pytest.raises(NotFound):
        await daily.claim(store, "ghost")
    with pytest.raises(Invalid):
        await daily.claim(store, "")


async def test_coins_only_programme(make_store: StoreFactory) -> None:
    store = await make_store("marketplace", earning={"daily_checkin_points": 0})
    await member(store)
    c = await daily.claim(store, "m-1")
    assert (c.coins, c.points, c.level_change) == (10, 0, None)
    found = await rows(store, "SELECT reason FROM ledger")
    assert [r[0] for r in found] == ["daily_coins"]


async def test_streak_across_the_dst_change_in_los_angeles(
    make_store: StoreFactory, clock: ManualClock
) -> None:
    store = await make_store("marketplace", timezone="America/Los_Angeles")
    la = ZoneInfo("America/Los_Angeles")
    await member(store)
    # 8 March 2026 is 23 hours long: claims 23 hours apart are on consecutive days.
    clock.set(datetime(2026, 3, 7, 23, 30, tzinfo=la))
    first = await daily.claim(store, "m-1")
    assert first.next_claim_at.astimezone(UTC) == datetime(2026, 3, 8, 8, tzinfo=UTC)
    clock.advance(hours=23)  # 23:30 PDT on 8 March
    second = await daily.claim(store, "m-1")
    assert (second.claimed, second.streak) == (True, 2)
    assert second.next_claim_at.astimezone(UTC) == datetime(2026, 3, 9, 7, tzinfo=UTC)
    # From 23:30 on 7 March, 24 real hours end at 00:30 on 9 March: 8 March was skipped.
    clock.set(datetime(2026, 3, 7, 23, 30, tzinfo=la))
    await member(store, "m-2")
    await daily.claim(store, "m-2")
    clock.advance(hours=24)
    assert programme_day(store.program, clock()) == date(2026, 3, 9)
    assert (await daily.claim(store, "m-2")).streak == 1

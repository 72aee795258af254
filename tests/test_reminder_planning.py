"""Reminder planning: whose hour it is, batches, catch-up after downtime, digests, indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage import coupons, daily, outbox, reminder_planning, reminder_settings, telegram_users
from storage.store import Store
from tests.conftest import delivered_order
from tests.test_outbox import (
    EVENING,
    POLICY,
    assert_reads_only_through_indexes,
    linked_member,
    rows,
    send_all,
)


async def test_planning_queues_only_the_users_whose_hour_it_is(store: Store, clock) -> None:
    for n, member_id in enumerate(["due", "early", "done", "off", "paused", "gone"]):
        await linked_member(store, member_id, 1001 + n)
    await reminder_settings.change(store, 1002, hour=7)
    await reminder_settings.change(store, 1004, mode=("daily", "off"))
    await reminder_settings.change(store, 1005, paused=True)
    await telegram_users.update(store, 1006, unreachable=True)
    clock.set(EVENING - timedelta(hours=1))
    await daily.claim(store, "done")
    clock.set(EVENING)
    report = await reminder_planning.plan(store, POLICY)
    assert report.hours == [EVENING]
    planned = await rows(store, kind="daily_checkin")
    assert [r["member_id"] for r in planned] == ["due"]
    assert planned[0]["due_at"] == "2026-03-10T19:00:00.000000+00:00"
    assert planned[0]["dedupe_key"] == "daily_checkin:2026-03-10:due"
    assert planned[0]["priority"] == 1
    # The same hour again (a second process, a restart): nothing new.
    clock.advance(minutes=30)
    assert (await reminder_planning.plan(store, POLICY)).hours == []
    assert await reminder_planning.plan_hour(store, POLICY, EVENING) == {}
    clock.set(datetime(2026, 3, 11, 7, 0, tzinfo=UTC))
    await reminder_planning.plan(store, POLICY)
    assert [r["member_id"] for r in await rows(store, kind="daily_checkin")] == ["due", "early"]


async def test_planning_walks_the_hour_in_batches(store: Store, clock) -> None:
    for n in range(7):
        await linked_member(store, f"m-{n}", 2000 + n)
    clock.set(EVENING)
    counts = await reminder_planning.plan_hour(store, POLICY, EVENING, batch=3)
    assert counts == {"daily_checkin": 7}
    assert len(await rows(store, kind="daily_checkin")) == 7


async def test_after_downtime_each_missed_hour_is_planned_once(store: Store, clock) -> None:
    await linked_member(store, "m-1", 1001)
    await linked_member(store, "m-2", 1002)
    await reminder_settings.change(store, 1002, hour=20)
    clock.set(EVENING - timedelta(hours=2, minutes=30))  # 16:30: the cursor is at 16:00
    await reminder_planning.plan(store, POLICY)
    clock.set(EVENING + timedelta(hours=2, minutes=10))  # back at 21:10
    report = await reminder_planning.plan(store, POLICY)
    assert [h.hour for h in report.hours] == [17, 18, 19, 20, 21]
    due = {r["member_id"]: r["due_at"][11:16] for r in await rows(store, kind="daily_checkin")}
    assert due == {"m-1": "19:00", "m-2": "20:00"}
    # Three days down: at most a day of hours, and no check-in reminders for past days.
    clock.set(EVENING + timedelta(days=3, minutes=5))
    report = await reminder_planning.plan(store, POLICY)
    assert len(report.hours) == 25
    assert report.queued["daily_checkin"] == 1  # only today's 19:00 (m-2's 20:00 is not yet)


async def test_expiry_digest_lists_a_members_coupons_once(store: Store, clock) -> None:
    await linked_member(store, "m-1", 1001)
    await linked_member(store, "m-2", 1002)
    await delivered_order(store, "m-1", 500_000)
    await delivered_order(store, "m-2", 500_000)
    await send_all(store)
    clock.set(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))  # expires 31 March
    await coupons.exchange(store, "m-1", 500, "points", "a")
    clock.set(datetime(2026, 3, 3, 10, 0, tzinfo=UTC))  # expire 2 April
    first = await coupons.exchange(store, "m-1", 1000, "points", "b")
    await coupons.exchange(store, "m-1", 2000, "points", "c")
    await coupons.exchange(store, "m-2", 500, "points", "d")
    await coupons.redeem(store, first.coupon.code, "m-1", "o-x")  # used: never listed
    clock.set(datetime(2026, 3, 30, 19, 0, tzinfo=UTC))  # 1 day before 31 March, 3 before 2 April
    await reminder_planning.plan(store, POLICY)
    digests = await rows(store, kind="coupon_expiry")
    assert sorted(r["member_id"] for r in digests) == ["m-1", "m-2"]
    claim = await outbox.claim(store, POLICY, "run")
    listed = {n.member_id: sorted(c.value_cents for c in n.coupons) for n in claim.notices
              if n.kind == "coupon_expiry"}  # fmt: skip
    assert listed == {"m-1": [500, 2000], "m-2": [500]}


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (reminder_planning._CHOSEN_HOUR.insert, ["telegram_users_hour"]),
        (reminder_planning._DIGEST_MEMBERS, ["coupons_active_expiry"]),
        (reminder_planning._DIGEST_INSERT, ["coupons_member_status"]),
    ],
    ids=["daily", "digest_members", "digest_insert"],
)
@pytest.mark.sqlite_only  # SQLite's plans; PostgreSQL plans by statistics
async def test_the_planning_queries_read_only_through_indexes(
    store: Store, statement: str, expected: list[str]
) -> None:
    await assert_reads_only_through_indexes(store, statement, expected)

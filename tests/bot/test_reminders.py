"""Reminders and notices end to end: the scheduler, the outbox and the emulator, time injected."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import Application

from bot.application import build_application, start_up
from bot.config import Config
from bot.jobs import Scheduler, schedule_jobs, scheduler
from bot.ratelimit import FairRateLimiter
from loyalty.clock import ManualClock
from storage import (
    checkout,
    coupons,
    daily,
    members,
    outbox,
    reminder_settings,
    scheduler_runs,
    telegram_users,
)
from storage.store import Store
from telegram_emulator import EmulatorRequest, Person, RateLimits, TelegramEmulator
from telegram_emulator import ManualClock as EmulatorClock
from tests.bot.conftest import FollowingClock, hand_timer, linked, make_config
from tests.conftest import delivered_order, open_store, send

EVENING = datetime(2026, 3, 10, 19, 0, tzinfo=UTC)


def sent_to(emu: TelegramEmulator, person: Person) -> list[dict[str, Any]]:
    """The sendMessage calls that reached `person`'s chat."""
    return [
        c.params
        for c in emu.calls_to("sendMessage")
        if c.status == 200 and str(c.params["chat_id"]) == str(person.id)
    ]


def texts_since(person: Person, mark: int) -> list[str]:
    return [m.text for m in person.messages_since(mark)]


@asynccontextmanager
async def world(
    tmp_path: Path,
    clock: ManualClock,
    config: Config,
    *,
    emu: TelegramEmulator | None = None,
    name: str = "world.db",
    **build: Any,
) -> AsyncIterator[tuple[Application, Store, Scheduler, TelegramEmulator]]:
    """A store, the application on an emulator, and its scheduler (time from `clock`)."""
    emulator = emu or TelegramEmulator(clock=FollowingClock(clock), limits=RateLimits())
    store = await open_store(tmp_path / name, config.program, clock)
    build.setdefault("timer", hand_timer(emulator))
    app = build_application(config, store, EmulatorRequest(emulator), token=emulator.token, **build)
    emulator.connect(app, raise_errors=True)
    try:
        async with app:
            await start_up(app)
            yield app, store, Scheduler(app, config), emulator
    finally:
        await store.close()
        if emu is None:
            await emulator.aclose()


async def test_check_in_reminder_comes_at_the_exact_hour_in_both_languages(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with world(tmp_path, clock, make_config()) as (_, store, runner, emu):
        ann, boris = emu.user(1001, "Ann"), emu.user(1002, "Борис", language_code="ru")
        await linked(store, ann, "m-1")
        await linked(store, boris, "m-2")
        clock.set(EVENING - timedelta(days=1, hours=2))
        await daily.claim(store, "m-2")  # Boris checked in yesterday: a 1-day streak at risk
        await runner.drain()
        marks = ann.mark(), boris.mark()
        clock.set(EVENING - timedelta(seconds=1))
        await runner.tick()
        assert texts_since(ann, marks[0]) == [] and texts_since(boris, marks[1]) == []
        clock.set(EVENING)
        await runner.tick()
        assert texts_since(ann, marks[0]) == [
            "📅 Your daily check-in is waiting: 10 coins and 20 points today."
        ]
        [text] = texts_since(boris, marks[1])
        assert text == (
            "📅 Ваша серия из 1 дня прервётся, если не отметиться сегодня."
            " Сегодня за отметку: 10 монет и 20 баллов."
        )
        assert boris.last_reply().button_labels == ["📅 Отметиться", "⚙️ Настройки напоминаний"]
        clock.advance(minutes=30)
        await runner.tick()
        clock.advance(hours=1)
        await runner.tick()
        assert len(ann.messages_since(marks[0])) == 1 and len(boris.messages_since(marks[1])) == 1


async def test_the_day_boundary_is_the_programme_zones(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(timezone="Asia/Tokyo")  # UTC+9: 19:00 there is 10:00 UTC
    async with world(tmp_path, clock, config) as (_, store, runner, emu):
        ann, boris = emu.user(1001, "Ann"), emu.user(1002, "Bo")
        await linked(store, ann, "m-1")
        await linked(store, boris, "m-2")
        clock.set(datetime(2026, 3, 10, 14, 50, tzinfo=UTC))  # 23:50 on 10 March in Tokyo
        await daily.claim(store, "m-2")
        clock.set(datetime(2026, 3, 10, 15, 10, tzinfo=UTC))  # 00:10 on 11 March in Tokyo
        await daily.claim(store, "m-1")  # the same UTC day, but a new programme day
        await runner.tick()
        marks = ann.mark(), boris.mark()
        clock.set(datetime(2026, 3, 11, 9, 59, 59, tzinfo=UTC))
        await runner.tick()
        assert texts_since(boris, marks[1]) == []
        clock.set(datetime(2026, 3, 11, 10, 0, tzinfo=UTC))  # 19:00 on 11 March in Tokyo
        await runner.tick()
        assert texts_since(ann, marks[0]) == []  # checked in today (Tokyo), 00:10
        [text] = texts_since(boris, marks[1])
        assert text.startswith("📅 Your 1-day streak ends today unless you check in.")


async def buy(store: Store, clock: ManualClock, member_id: str, when: datetime, key: str) -> str:
    clock.set(when)
    return (await coupons.exchange(store, member_id, 500, "points", key)).coupon.code


async def test_the_burn_at_the_end_of_30_june_and_its_digests(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with world(tmp_path, clock, make_config()) as (_, store, runner, emu):
        ann = emu.user(1001, "Ann")
        await linked(store, ann, "m-1")
        await delivered_order(store, "m-1", 300_000)
        early = await buy(store, clock, "m-1", datetime(2026, 6, 10, 12, tzinfo=UTC), "a")
        await runner.tick()
        mark = ann.mark()
        clock.set(datetime(2026, 6, 23, 19, 0, tzinfo=UTC))  # 7 days before
        await runner.tick()
        [week] = [t for t in texts_since(ann, mark) if t.startswith("🔥")]
        assert "All coupons burn at the end of 30 Jun 2026" in week
        assert "You have 1 coupon that will burn:\n • $5.00, valid until 30 Jun 2026, 23:59" in week
        # A coupon issued on 29 June lives only until the end of 30 June.
        late = await buy(store, clock, "m-1", datetime(2026, 6, 29, 10, tzinfo=UTC), "b")
        assert (await coupons.get(store, late)).expires_at == datetime(
            2026, 6, 30, 23, 59, 59, tzinfo=UTC
        )
        mark = ann.mark()
        clock.set(datetime(2026, 6, 29, 19, 0, tzinfo=UTC))  # 1 day before
        await runner.tick()
        [eve] = [t for t in texts_since(ann, mark) if t.startswith("🔥")]
        assert "You have 2 coupons that will burn:" in eve and eve.count("$5.00") == 2
        clock.set(datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC))
        await runner.tick()
        for code in (early, late):
            assert (await coupons.get(store, code)).status == "active"
        clock.set(datetime(2026, 7, 1, 0, 0, 0, tzinfo=UTC))
        await runner.tick()
        stored = await store.db.read("SELECT code, status FROM coupons ORDER BY code")
        assert {r["code"]: r["status"] for r in stored} == {early: "burned", late: "burned"}
        assert await scheduler_runs.last_period(store, "day_start") == "2026-07-01"


async def test_the_expiry_digest_is_one_message_for_several_coupons(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with world(tmp_path, clock, make_config()) as (_, store, runner, emu):
        boris = emu.user(1002, "Борис", language_code="ru")
        clock.set(datetime(2026, 3, 1, 10, tzinfo=UTC))
        await linked(store, boris, "m-2")
        await delivered_order(store, "m-2", 300_000)
        for key in ("a", "b", "c"):
            await buy(store, clock, "m-2", datetime(2026, 3, 1, 12, tzinfo=UTC), key)
        await runner.tick()
        await reminder_settings.change(store, boris.id, mode=("daily", "off"))
        mark = boris.mark()
        clock.set(datetime(2026, 3, 28, 19, 0, tzinfo=UTC))  # 3 days before 31 March
        await runner.tick()
        [text] = texts_since(boris, mark)
        assert text.startswith("⏳ Скоро истекают 3 купона:\n • 5,00\xa0$, действует до 31 мар.")
        assert text.count("•") == 3
        assert boris.last_reply().button_labels == ["🎟 Мои купоны", "⚙️ Настройки напоминаний"]
        clock.set(datetime(2026, 3, 30, 19, 0, tzinfo=UTC))  # 1 day before
        await runner.tick()
        assert len(texts_since(boris, mark)) == 2


async def test_a_restart_between_due_and_sent_sends_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    emu = TelegramEmulator(clock=FollowingClock(clock), limits=RateLimits())
    config = make_config()
    async with world(tmp_path, clock, config, emu=emu, name="r.db") as (_, store, runner, _e):
        ann = emu.user(1001, "Ann")
        await linked(store, ann, "m-1")
        await runner.drain()
        clock.set(EVENING)
        await runner.plan()
        # The process claims the reminder and dies before sending it.
        held = await outbox.claim(store, runner.policy, "dead", lease=runner.lease)
        assert len(held.notices) == 1
    mark = ann.mark()
    async with world(tmp_path, clock, config, emu=emu, name="r.db") as (_, store, runner, _e):
        clock.advance(minutes=1)
        await runner.tick()
        assert texts_since(ann, mark) == []  # still held by the dead run's claim
        clock.advance(minutes=1)
        await runner.tick()
        clock.advance(minutes=5)
        await runner.tick()
        assert texts_since(ann, mark) == [
            "📅 Your daily check-in is waiting: 10 coins and 20 points today."
        ]
    await emu.aclose()


async def test_two_overlapping_runs_send_each_notice_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = make_config(reminders={"rate_per_second": 1000})
    async with world(tmp_path, clock, config) as (_, store, runner, emu):
        people = [emu.user(3000 + n, f"P{n}") for n in range(12)]
        for n, person in enumerate(people):
            await linked(store, person, f"m-{n}")
        await runner.drain()
        marks = [p.mark() for p in people]
        clock.set(EVENING)
        await runner.plan()
        runner.batch_size = 5  # several claims each, interleaved
        first, second = await asyncio.gather(runner.drain(), runner.drain())
        assert first.sent + second.sent == 12
        assert first.sent and second.sent
        for person, mark in zip(people, marks, strict=True):
            assert len(person.messages_since(mark)) == 1
        assert (await runner.drain()).sent == 0


async def test_quiet_hours_defer_notices_until_they_end(tmp_path: Path, clock: ManualClock) -> None:
    async with world(tmp_path, clock, make_config()) as (_, store, runner, emu):
        ann, boris = emu.user(1001, "Ann"), emu.user(1002, "Bo")
        await linked(store, ann, "m-1")
        await linked(store, boris, "m-2")
        await boris.send("/settings")
        await boris.press("🌙 22:00–08:00")
        await boris.press("No quiet hours")
        marks = ann.mark(), boris.mark()
        clock.set(datetime(2026, 3, 10, 23, 0, tzinfo=UTC))
        await delivered_order(store, "m-1", 1_000, "o-night")
        await delivered_order(store, "m-2", 1_000, "o-night-2")
        await runner.tick()
        assert texts_since(ann, marks[0]) == []
        assert "💰 You earned 15 points for order o-night-2." in texts_since(boris, marks[1])
        clock.set(datetime(2026, 3, 11, 7, 59, 59, tzinfo=UTC))
        await runner.tick()
        assert texts_since(ann, marks[0]) == []
        clock.set(datetime(2026, 3, 11, 8, 0, tzinfo=UTC))
        await runner.tick()
        assert "💰 You earned 15 points for order o-night." in texts_since(ann, marks[0])


async def test_silent_mode_sends_without_notification(tmp_path: Path, clock: ManualClock) -> None:
    async with world(tmp_path, clock, make_config()) as (_, store, runner, emu):
        ann = emu.user(1001, "Ann")
        await linked(store, ann, "m-1")
        await ann.send("/settings")
        await ann.press("📅 Daily check-in: 🔔 on")
        assert "📅 Daily check-in: 🔕 silent" in ann.last_reply().button_labels
        await runner.drain()
        before = len(sent_to(emu, ann))
        clock.set(EVENING)
        await runner.tick()
        await delivered_order(store, "m-1", 1_000)
        await runner.tick()
        new = sent_to(emu, ann)[before:]
        [reminder] = [c for c in new if c["text"].startswith("📅")]
        [points] = [c for c in new if c["text"].startswith("💰")]
        assert reminder["disable_notification"] == "true"  # the wire form of True
        assert "disable_notification" not in points


async def test_a_blocked_member_is_skipped_until_they_write_again(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with world(tmp_path, clock, make_config()) as (_, store, runner, emu):
        ann = emu.user(1001, "Ann")
        await linked(store, ann, "m-1")
        await runner.drain()
        ann.block()
        clock.set(EVENING)
        report = await runner.tick()
        assert report.blocked == 1 and report.sent == 0
        assert (await telegram_users.profile(store, ann.id)).unreachable
        attempts = len(emu.calls_to("sendMessage"))
        clock.advance(days=1)
        await delivered_order(store, "m-1", 1_000)
        await runner.tick()
        assert len(emu.calls_to("sendMessage")) == attempts  # not even tried
        ann.unblock()
        await ann.send("/me")
        assert not (await telegram_users.profile(store, ann.id)).unreachable
        mark = ann.mark()
        clock.advance(days=1)
        await runner.tick()
        assert texts_since(ann, mark) == [
            "📅 Your daily check-in is waiting: 10 coins and 20 points today."
        ]


async def test_a_member_who_checked_in_before_a_delayed_reminder_gets_none(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with world(tmp_path, clock, make_config()) as (_, store, runner, emu):
        ann, bo = emu.user(1001, "Ann"), emu.user(1002, "Bo")
        await linked(store, ann, "m-1")
        await linked(store, bo, "m-2")
        await runner.drain()
        marks = ann.mark(), bo.mark()
        clock.set(EVENING)
        await runner.plan()  # due at 19:00, but the sender is late
        clock.set(EVENING + timedelta(minutes=5))
        await daily.claim(store, "m-1")
        clock.set(EVENING + timedelta(minutes=10))
        report = await runner.drain()
        assert report.skipped == {"no_longer_true": 1} and report.sent == 1
        assert texts_since(ann, marks[0]) == []
        assert len(texts_since(bo, marks[1])) == 1


async def test_a_reminder_due_while_down_goes_out_once_when_back(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with world(tmp_path, clock, make_config()) as (_, store, runner, emu):
        ann = emu.user(1001, "Ann")
        await linked(store, ann, "m-1")
        clock.set(EVENING - timedelta(hours=1, minutes=30))
        await runner.tick()  # 17:30: running
        mark = ann.mark()
        clock.set(EVENING + timedelta(hours=2, minutes=30))  # down from 17:30 to 21:30
        await runner.tick()
        await runner.tick()
        assert texts_since(ann, mark) == [
            "📅 Your daily check-in is waiting: 10 coins and 20 points today."
        ]


async def test_retry_after_gives_rows_back_without_sleeping(
    tmp_path: Path, clock: ManualClock
) -> None:
    # Telegram lets only 2 messages a second through; the limiter's clock is moved by hand.
    emu_clock = EmulatorClock()
    emu = TelegramEmulator(clock=emu_clock, limits=RateLimits(global_per_second=2))
    monotonic = [0.0]
    limiter = FairRateLimiter(bulk_per_second=0, clock=lambda: monotonic[0])
    config = make_config()
    async with world(tmp_path, clock, config, emu=emu, rate_limiter=limiter) as (
        _, store, runner, _e,
    ):  # fmt: skip
        people = [emu.user(4000 + n, f"P{n}") for n in range(5)]
        for n, person in enumerate(people):
            await linked(store, person, f"m-{n}")
            emu_clock.advance(1)
            monotonic[0] += 1
        marks = [p.mark() for p in people]
        clock.set(EVENING)
        started = time.monotonic()
        await runner.plan()
        first = await runner.drain()
        assert first.sent == 2 and first.retry_after == 1 and first.released == 3
        again = await runner.drain()  # Telegram's wait is not over: nothing is tried
        assert again.sent == 0 and again.retry_after is not None
        for _ in range(2):
            emu_clock.advance(1)
            monotonic[0] += 1
            clock.advance(seconds=1)
            await runner.drain()
        assert time.monotonic() - started < 1.0  # never slept on Telegram's wait
        assert [len(p.messages_since(m)) for p, m in zip(people, marks, strict=True)] == [1] * 5
    await emu.aclose()


async def test_account_notices_in_both_languages(tmp_path: Path, clock: ManualClock) -> None:
    async with world(tmp_path, clock, make_config()) as (_, store, runner, emu):
        ann, boris = emu.user(1001, "Ann"), emu.user(1002, "Борис", language_code="ru")
        await linked(store, ann, "m-1")
        await linked(store, boris, "m-2")
        clock.set(datetime(2026, 3, 10, 12, tzinfo=UTC))
        marks = ann.mark(), boris.mark()
        await delivered_order(store, "m-1", 15_000, "o-1")
        await delivered_order(store, "m-2", 15_000, "o-2")
        await runner.drain()
        assert texts_since(ann, marks[0]) == [
            "🎉 Congratulations! Your level is now A2 (was A0).\n\nYour perks now:\n"
            " • Personal e-mails about discounts and promotions\n"
            " • A message when an item in your basket or wish list gets cheaper",
            "💰 You earned 155 points for order o-1.",
        ]
        assert texts_since(boris, marks[1])[1] == "💰 Вам начислено 155 баллов за заказ o-2."
        marks = ann.mark(), boris.mark()
        await send(store, "order.returned", order_id="o-2")
        await runner.drain()
        down, back = texts_since(boris, marks[1])
        assert down.startswith(
            "📉 Ваш уровень теперь A0 (был A2).\n"
            "Уровень учитывает только начисленное за последние 365 дней."
        )
        assert back == "↩️ Списано 155 баллов: заказ o-2 возвращён."
        await ann.send("/settings")
        await ann.press("💰 Points and level news: 🔔 on")  # -> silent
        await ann.press("💰 Points and level news: 🔕 silent")  # -> off
        mark = ann.mark()
        await send(store, "order.returned", order_id="o-1")
        report = await runner.drain()
        assert texts_since(ann, mark) == [] and report.skipped == {"off": 2}


async def test_members_whose_points_age_out_are_told(tmp_path: Path, clock: ManualClock) -> None:
    async with world(tmp_path, clock, make_config()) as (_, store, runner, emu):
        ann = emu.user(1001, "Ann")
        await linked(store, ann, "m-1")
        await delivered_order(store, "m-1", 20_000)  # 205 points: A2 for 365 days
        await runner.tick()
        mark = ann.mark()
        clock.set(datetime(2027, 3, 11, 0, 0, 30, tzinfo=UTC))  # the window has passed
        done = await runner.start_day()
        assert done is not None and done.level_changes == 1
        await runner.tick()
        assert texts_since(ann, mark) == []  # 00:00: quiet hours
        clock.set(datetime(2027, 3, 11, 8, 0, tzinfo=UTC))
        await runner.tick()
        [text] = [t for t in texts_since(ann, mark) if t.startswith("📉")]
        assert text.startswith(
            "📉 Your level is now A0 (was A2).\n"
            "Levels count only what you earned in the last 365 days.\n"
        )


async def test_paid_broadcasts_above_thirty_a_second(tmp_path: Path, clock: ManualClock) -> None:
    config = make_config(reminders={"rate_per_second": 1000})
    async with world(tmp_path, clock, config) as (_, store, runner, emu):
        ann = emu.user(1001, "Ann")
        await linked(store, ann, "m-1")
        await ann.send("/me")
        clock.set(EVENING)
        await runner.tick()
        reminder = sent_to(emu, ann)[-1]
        assert reminder["text"].startswith("📅") and reminder["allow_paid_broadcast"] == "true"
        assert all("allow_paid_broadcast" not in c for c in sent_to(emu, ann)[:-1])


async def test_schedule_jobs_registers_each_job_and_the_sla_hook(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[object] = []

    async def sla_check(bot: object, services: object) -> int:
        checked.append(bot)
        return 0

    monkeypatch.setattr("bot.jobs.flag_overdue", sla_check)

    async with world(tmp_path, clock, make_config()) as (app, store, _, emu):
        ann = emu.user(1001, "Ann")
        await linked(store, ann, "m-1")
        jobs = schedule_jobs(app, make_config())
        assert [j.name for j in jobs] == [
            "scheduler_lease",  # first: the others run only while this process leads
            "day_start",
            "plan_reminders",
            "drain_outbox",
            "sla_check",
            "expire_holds",
        ]
        intervals = [j.job.trigger.interval.total_seconds() for j in jobs]
        assert intervals == [5, 60, 60, make_config().reminders.interval_seconds, 60, 60]
        assert make_config().reminders.interval_seconds == 15
        mark = ann.mark()
        clock.set(EVENING)
        for job in jobs:
            await job.run(app)
        assert checked == [app.bot]
        assert await scheduler_runs.last_period(store, "day_start") == "2026-03-10"
        assert len(texts_since(ann, mark)) == 1
        assert scheduler(app).draining is False
        for job in app.job_queue.jobs():
            job.schedule_removal()


async def test_the_scheduler_releases_holds_past_server_hold_minutes_and_tells_the_member(
    tmp_path: Path, clock: ManualClock
) -> None:
    """A shop that never captures nor releases must not freeze the points (issue 17)."""
    config = make_config("vip-shop", server={"hold_minutes": 90})
    async with world(tmp_path, clock, config) as (_, store, runner, emu):
        ann = emu.user(1001, "Ann")
        await linked(store, ann, "m-1")
        await send(store, "member.email_verified", member_id="m-1")  # 5 points
        await checkout.hold(store, "h-1", "m-1", "o-1", 4)
        clock.advance(minutes=89)
        assert await runner.release_expired_holds() == 0
        clock.advance(minutes=1)
        assert await runner.release_expired_holds() == 1
        view = await members.view(store, "m-1")
        assert (view.points, view.points_held) == (5, 0)
        assert await runner.release_expired_holds() == 0
        mark = ann.mark()
        await runner.drain()
        assert any("4 points held for order o-1 are back" in t for t in texts_since(ann, mark))

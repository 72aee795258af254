"""The outgoing rate limiter: Telegram's sliding windows, and members' answers before a fan-out."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from telegram.error import RetryAfter

from bot.ratelimit import BULK, QUEUED, FairRateLimiter, SlidingWindow, Timer, retry_seconds
from loyalty.clock import ManualClock
from storage import links, telegram_users
from telegram_emulator import TelegramEmulator
from tests.bot.conftest import make_config
from tests.bot.test_reminders import world
from tests.conftest import member


def test_the_fan_out_leaves_members_their_slot_whatever_they_used() -> None:
    window = SlidingWindow(capacity=3, period=1.0)
    window.start()  # a member's answer
    window.finish(0.0)
    for _ in range(2):  # the fan-out may use 3 - 1 slots, not 3 - 1 - the member's
        assert window.delay(0.1, reserve=1, bulk=True) == 0
        window.start(bulk=True)
        window.finish(0.1, bulk=True)
    assert window.delay(0.2, reserve=1, bulk=True) == pytest.approx(0.9)
    assert window.delay(0.2) == pytest.approx(0.8)  # the window itself is full too


def test_a_window_counts_requests_in_flight_and_answered() -> None:
    window = SlidingWindow(capacity=2, period=1.0)
    assert window.delay(0.0) == 0
    window.start()
    window.start()
    assert math.isinf(window.delay(0.1))  # both in flight: wait for an answer
    window.finish(0.2)
    assert window.delay(0.2) == 1.0  # one in flight, one answered at 0.2 (gone at 1.2)
    window.finish(0.3)
    assert window.delay(1.0) == pytest.approx(0.2)
    assert window.delay(1.2) == 0  # the first answer has left the window
    assert SlidingWindow(capacity=0, period=1.0).delay(5.0) == 0  # 0 = no limit


async def test_a_members_answer_goes_before_the_fan_out() -> None:
    now = [0.0]
    limiter = FairRateLimiter(overall_per_second=1, bulk_per_second=0, clock=lambda: now[0])
    order: list[str] = []

    async def call(name: str) -> bool:
        order.append(name)
        return True

    async def request(name: str, bulk: bool) -> None:
        await limiter.process_request(
            call, (name,), {}, "sendMessage", {"chat_id": 1}, BULK if bulk else None
        )

    await request("first", bulk=True)  # the window (1 a second) is now full
    fan_out = asyncio.create_task(request("fan-out", bulk=True))
    await asyncio.sleep(0)
    member = asyncio.create_task(request("member", bulk=False))
    await asyncio.sleep(0)
    now[0] = 1.5  # the first message left the window: one slot is free
    limiter._notify()
    await asyncio.wait_for(member, 1)
    assert order == ["first", "member"]  # the member took the slot the fan-out waited for
    now[0] = 3.0
    limiter._notify()
    await asyncio.wait_for(fan_out, 1)
    assert order == ["first", "member", "fan-out"]


async def test_requests_without_a_chat_are_not_limited() -> None:
    limiter = FairRateLimiter(overall_per_second=1, clock=lambda: 0.0)

    async def call() -> bool:
        return True

    for _ in range(5):  # answerCallbackQuery, getMe: no chat_id
        assert await limiter.process_request(call, (), {}, "getMe", {}, None)


async def test_a_fan_out_at_the_limit_gets_no_429_and_members_are_answered_at_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    # Real time here: the emulator enforces 30 messages a second on the monotonic clock.
    emu = TelegramEmulator(clock=time.monotonic)
    config = make_config(reminders={"rate_per_second": 30})
    async with world(tmp_path, clock, config, emu=emu) as (_, store, runner, _e):
        for n in range(45):
            person = emu.user(5000 + n, f"P{n}")
            person.record.started = True
            await member(store, f"m-{n}")
            await telegram_users.seen(store, person.id, "en")
            token = await links.create_token(store, f"m-{n}")
            await links.consume_token(store, token.token, person.id)
        probe = emu.user(6000, "Probe")
        await member(store, "probe")
        token = await links.create_token(store, "probe")
        await probe.send(f"/start {token.token}")
        clock.set(datetime(2026, 3, 10, 19, 0, tzinfo=UTC))
        await runner.plan()
        started = time.monotonic()
        fan_out = asyncio.create_task(runner.drain())
        waits = []
        for _ in range(3):
            await asyncio.sleep(0.4)
            before = time.monotonic()
            await probe.send("/me")
            waits.append(time.monotonic() - before)
            assert "your account" in probe.last_reply().text
        report = await fan_out
        elapsed = time.monotonic() - started
    await emu.aclose()
    assert [c for c in emu.calls if c.status == 429] == []
    assert report.sent == 46  # 45 reminders + the probe's own
    assert max(waits) < 0.1
    # 46 reminders and 3 answers at 30 a second: the first 30 fit the first second.
    assert elapsed >= (46 + 3 - 30) / 30


@pytest.mark.parametrize("timedelta_opt_in", ["false", "true"])
@pytest.mark.filterwarnings("error::telegram.warnings.PTBDeprecationWarning")
def test_retry_seconds_reads_either_form_of_retry_after_without_a_warning(
    monkeypatch: pytest.MonkeyPatch, timedelta_opt_in: str
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", timedelta_opt_in)  # int seconds today, timedelta next
    with pytest.warns() if timedelta_opt_in == "false" else contextlib.nullcontext():
        exc = RetryAfter(3)  # PTB itself warns here, while it builds its message
    assert retry_seconds(exc) == 3.0


async def test_a_429_on_a_members_answer_is_waited_out_and_sent_again() -> None:
    now, slept = [0.0], []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = FairRateLimiter(timer=Timer(now=lambda: now[0], sleep=sleep, manual=True))
    refusals = [RetryAfter(2), RetryAfter(1)]

    async def call() -> bool:
        if refusals:
            raise refusals.pop(0)
        return True

    assert await limiter.process_request(call, (), {}, "sendMessage", {"chat_id": 1}, None)
    assert slept == [2.0, 1.0]  # waited as told, no real time, and the answer went
    with pytest.raises(RetryAfter):  # the send queue's requests: it waits them out itself
        refusals.append(RetryAfter(3))
        await limiter.process_request(call, (), {}, "sendMessage", {"chat_id": 1}, QUEUED)
    assert slept == [2.0, 1.0]


async def test_a_send_waiting_for_the_groups_minute_does_not_hold_the_fan_out() -> None:
    now = [0.0]
    limiter = FairRateLimiter(group_per_minute=1, bulk_per_second=30, clock=lambda: now[0])

    async def call(name: str) -> str:
        return name

    group = {"chat_id": -100123}
    await limiter.process_request(call, ("card",), {}, "sendMessage", group, QUEUED)
    relay = asyncio.create_task(
        limiter.process_request(call, ("relay",), {}, "sendMessage", group, QUEUED)
    )
    await asyncio.sleep(0)
    fan_out = limiter.process_request(call, ("digest",), {}, "sendMessage", {"chat_id": 7}, BULK)
    assert await asyncio.wait_for(fan_out, 1) == "digest"  # not behind the group's minute
    assert not relay.done()
    now[0] = 61.0
    limiter._notify()
    assert await asyncio.wait_for(relay, 1) == "relay"

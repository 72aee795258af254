"""Flood limits trip like Telegram's and recover when the injected clock moves on."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import Bot
from telegram.error import RetryAfter
from telegram.ext import AIORateLimiter

from telegram_emulator import ManualClock, Person, RateLimits, TelegramEmulator
from telegram_emulator.limits import RateLimiter
from tests.emulator.conftest import assert_last_error
from tests.emulator.sample_bot import add_handlers, builder

# PTB 22 warns from inside RetryAfter itself about the future type of retry_after.
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2")


async def expect_retry_after(emu: TelegramEmulator, call: Any, seconds: int) -> None:
    with pytest.raises(RetryAfter) as caught:
        await call
    # PTB words it so; reading .retry_after would raise a deprecation warning in 22.x.
    assert caught.value.message == f"Flood control exceeded. Retry in {seconds} seconds"
    assert_last_error(emu, 429, f"Too Many Requests: retry after {seconds}")


async def test_wire_format_of_429(emu: TelegramEmulator, started: Person) -> None:
    for _ in range(emu.limits.private_burst - 1):  # /start's reply used one token
        await emu.call("sendMessage", chat_id=started.id, text="x")
    status, body = await emu.handle(emu.token, "sendMessage", {"chat_id": started.id, "text": "x"})
    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }


@pytest.mark.parametrize("limits", [RateLimits(private_burst=3)])
async def test_private_chat_allows_a_burst_then_one_per_second(
    emu: TelegramEmulator, bot: Bot, started: Person, clock: ManualClock
) -> None:
    clock.advance(10)  # refill after /start's reply
    for _ in range(3):
        await bot.send_message(started.id, "burst")
    await expect_retry_after(emu, bot.send_message(started.id, "too fast"), 1)
    clock.advance(0.5)
    await expect_retry_after(emu, bot.send_message(started.id, "still too fast"), 1)
    clock.advance(0.5)
    await bot.send_message(started.id, "one per second is fine")
    for _ in range(10):  # a sustained 1/s never trips
        clock.advance(1)
        await bot.send_message(started.id, "steady")
    await expect_retry_after(emu, bot.send_message(started.id, "but not faster"), 1)


async def test_group_allows_20_messages_per_minute(
    emu: TelegramEmulator, bot: Bot, clock: ManualClock
) -> None:
    group = emu.supergroup(-1003, "Agents")
    for _ in range(20):
        await bot.send_message(group.chat_id, "x")
        clock.advance(1)
    await expect_retry_after(emu, bot.send_message(group.chat_id, "21st"), 40)
    clock.advance(39)
    await expect_retry_after(emu, bot.send_message(group.chat_id, "21st"), 1)
    clock.advance(1)
    await bot.send_message(group.chat_id, "the first one left the window")
    other = emu.supergroup(-1004, "Strangers")
    await bot.send_message(other.chat_id, "limits are per group")


async def test_30_messages_per_second_overall(
    emu: TelegramEmulator, bot: Bot, clock: ManualClock
) -> None:
    people = [emu.user(5000 + i, f"P{i}") for i in range(31)]
    for person in people:
        person.record.started = True
    for person in people[:30]:
        await bot.send_message(person.id, "broadcast")
    await expect_retry_after(emu, bot.send_message(people[30].id, "31st"), 1)
    # Paid broadcasts have their own, larger budget.
    await bot.send_message(people[30].id, "paid", allow_paid_broadcast=True)
    clock.advance(1)
    await bot.send_message(people[30].id, "next second")


@pytest.mark.parametrize("limits", [RateLimits(global_per_second=1000)])
async def test_overall_limit_is_configurable(emu: TelegramEmulator, bot: Bot) -> None:
    for i in range(100):
        emu.user(7000 + i, "P").record.started = True
        await bot.send_message(7000 + i, "fast broadcast")


@pytest.mark.parametrize("limits", [RateLimits(private_burst=1)])
async def test_what_counts(
    emu: TelegramEmulator, bot: Bot, started: Person, clock: ManualClock
) -> None:
    # /start's reply used the only token; reads, answers and edits still go through.
    sent = started.last_reply()
    await bot.get_me()
    await bot.send_chat_action(started.id, "typing")
    await bot.edit_message_text("edited", chat_id=started.id, message_id=sent.message_id)
    await expect_retry_after(emu, bot.send_message(started.id, "a send does count"), 1)
    await expect_retry_after(emu, bot.copy_message(started.id, started.id, sent.message_id), 1)
    await expect_retry_after(emu, bot.send_photo(started.id, emu.new_photo().file_id), 1)


@pytest.mark.parametrize("limits", [RateLimits(private_burst=1, count_edits=True)])
async def test_edits_can_be_counted(emu: TelegramEmulator, bot: Bot, started: Person) -> None:
    sent = started.last_reply()
    await expect_retry_after(
        emu, bot.edit_message_text("edited", chat_id=started.id, message_id=sent.message_id), 1
    )


@pytest.mark.parametrize("limits", [RateLimits(private_burst=1)])
async def test_works_behind_aio_rate_limiter(
    emu: TelegramEmulator, ann: Person, clock: ManualClock
) -> None:
    application = builder(emu).rate_limiter(AIORateLimiter(max_retries=0)).build()
    add_handlers(application)
    emu.connect(application, raise_errors=True)
    async with application:
        await ann.send("/start")
        assert ann.last_reply().text == "Welcome, Ann! token=-"
        await expect_retry_after(emu, application.bot.send_message(ann.id, "too soon"), 1)
        clock.advance(1)
        await application.bot.send_message(ann.id, "recovered")
    assert ann.last_reply().text == "recovered"


events = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=3, allow_nan=False),  # time since the previous event
        st.sampled_from([1, 2, -100, -200]),  # two private chats, two groups
    ),
    max_size=120,
)


@settings(max_examples=60, deadline=None)
@given(events)
def test_limiter_never_lets_through_more_than_the_limits(
    steps: list[tuple[float, int]],
) -> None:
    limits = RateLimits(global_per_second=5, group_per_minute=4, private_burst=2)
    clock = ManualClock(0)
    limiter = RateLimiter(limits, clock)
    accepted: list[tuple[float, int]] = []
    for gap, chat in steps:
        clock.advance(gap)
        wait = limiter.acquire(chat, is_group=chat < 0)
        if wait is None:
            accepted.append((clock(), chat))
            continue
        assert wait >= 1
    # Windows end with the limiter's own float tolerance (1e-9): 3e-294 + 1.0 == 1.0, so an
    # entry at 3e-294 has left the window at 1.0 although 1.0 - 1 < 3e-294.
    for t, _ in accepted:
        assert sum(1 for u, _ in accepted if t - 1 + 1e-9 < u <= t) <= 5
    for t, chat in accepted:
        if chat < 0:
            assert sum(1 for u, c in accepted if c == chat and t - 60 + 1e-9 < u <= t) <= 4
    for chat in (1, 2):
        times = [u for u, c in accepted if c == chat]
        for i, start in enumerate(times):
            for j in range(i, len(times)):
                assert j - i + 1 <= 2 + (times[j] - start) * 1.0 + 1e-9


@settings(max_examples=60, deadline=None)
@given(events, st.sampled_from([1, -100]))
def test_waiting_the_announced_time_is_enough(steps: list[tuple[float, int]], chat: int) -> None:
    clock = ManualClock(0)
    limiter = RateLimiter(
        RateLimits(global_per_second=5, group_per_minute=4, private_burst=2), clock
    )
    for gap, other in steps:
        clock.advance(gap)
        limiter.acquire(other, is_group=other < 0)
    wait = limiter.acquire(chat, is_group=chat < 0)
    if wait is not None:
        clock.advance(wait)
        assert limiter.acquire(chat, is_group=chat < 0) is None

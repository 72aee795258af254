"""Outgoing rate limits with priority: members' answers go before a reminder fan-out.

Why not `AIORateLimiter`: it is a leaky bucket (a burst of `max_rate`, then `max_rate` a
second), so at saturation it lets through up to twice the limit in some one-second window,
which Telegram (and the emulator) answer with 429; and it serves requests first come, first
served, so a fan-out that keeps the limiter busy makes every member's answer wait in line.
PTB's docs call it a "minimal effort reference implementation" and invite a subclass.

This limiter keeps Telegram's own model: sliding one-second windows (30 messages overall,
1000 with `allow_paid_broadcast`, 20 a minute per group). A request counts from when it is
sent until one window after its answer came back, so Telegram, which stamps it in between,
never sees more than the limit in any window. Requests marked `BULK` (the outbox sender's)
are also paced evenly at the configured rate and yield a slot to any interactive request
waiting for the same window: a member's answer waits at most for the next free slot, never
behind the fan-out's queue.

A 429 on an interactive request (a member's answer; Telegram's private-chat limit is not
modelled here) is waited out and the request sent again, a bounded number of times, so an
answer is not lost to a short burst; the fan-out's requests are handed back to the outbox and
the send queue's (`bot/sender.py`) retry in order themselves. Time comes from a `Timer`, so
tests run at Telegram's real limits on a hand clock and a wait takes no real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram.constants import FloodLimit
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.logs import kv

log = logging.getLogger(__name__)
BULK = "bulk"  # rate_limit_args value marking a fan-out message
FREE_PER_SECOND = FloodLimit.MESSAGES_PER_SECOND  # 30
PAID_PER_SECOND = FloodLimit.PAID_MESSAGES_PER_SECOND  # 1000
BULK_RESERVE = 1  # slots of a window members share that the fan-out leaves to them
QUEUED = "queued"  # rate_limit_args value of the send queue: it waits out a 429 itself
FLOOD_RETRIES = 3  # an interactive request waits out this many 429s before giving up
JSONResult = bool | dict[str, Any] | list[dict[str, Any]]


@dataclass(frozen=True)
class Timer:
    """Where the bot's waiting reads the time and sleeps: the real clock, or a test's hand."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    manual: bool = False  # a hand clock: waits go through `sleep`, never the loop's timers


REAL_TIME = Timer()


def retry_seconds(exc: RetryAfter) -> float:
    """Return how long Telegram asked to wait, in seconds."""
    # PTB 22.2+ gives `retry_after` as int seconds with a deprecation warning, or as the
    # coming `timedelta` once the process sets PTB_TIMEDELTA. That switch is process-wide and
    # changes other things (RetryAfter's own message, every duration attribute), so it is left
    # to the operator; the warning, about a type this reads either way, is ignored here alone.
    with warnings.catch_warnings(action="ignore", category=PTBDeprecationWarning):
        wait = exc.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


class _Usage:
    """Requests in flight, and when answered ones came back (oldest first)."""

    def __init__(self) -> None:
        self.stamps: deque[float] = deque()
        self.in_flight = 0

    def delay(self, now: float, period: float, capacity: int) -> float:
        """Return seconds until one more fits under `capacity` (inf: until one returns)."""
        stamps = self.stamps
        while stamps and stamps[0] <= now - period:
            stamps.popleft()
        used = len(stamps) + self.in_flight
        if used < capacity:
            return 0.0
        # The (used - capacity + 1) oldest stamps must leave before one more fits.
        index = used - capacity
        if index < len(stamps):
            return max(0.0, stamps[index] + period - now)
        return math.inf


class SlidingWindow:
    """At most `capacity` requests in any `period` seconds, counting requests in flight.

    Bulk requests are also counted apart, so the fan-out can be held to fewer slots than the
    window has (`reserve`) without members' own requests shrinking its share further.
    """

    def __init__(self, capacity: int, period: float) -> None:
        self.capacity = capacity
        self.period = period
        self.all = _Usage()
        self.bulk = _Usage()
        self.waiting = 0  # interactive requests waiting for this window

    @property
    def stamps(self) -> deque[float]:
        """Return when answered requests came back, oldest first."""
        return self.all.stamps

    def delay(self, now: float, *, reserve: int = 0, bulk: bool = False) -> float:
        """Return seconds until one more request fits (inf: until one in flight returns);
        a bulk request also keeps the fan-out within `capacity - reserve`."""
        if self.capacity <= 0:
            return 0.0
        delay = self.all.delay(now, self.period, self.capacity)
        if bulk:
            share = max(1, self.capacity - reserve)
            delay = max(delay, self.bulk.delay(now, self.period, share))
        return delay

    def start(self, *, bulk: bool = False) -> None:
        """Count one request as sent."""
        self.all.in_flight += 1
        if bulk:
            self.bulk.in_flight += 1

    def finish(self, now: float, *, bulk: bool = False) -> None:
        """Count a sent request as answered at `now`."""
        self.all.in_flight -= 1
        self.all.stamps.append(now)
        if bulk:
            self.bulk.in_flight -= 1
            self.bulk.stamps.append(now)


class FairRateLimiter(BaseRateLimiter[str]):
    """Telegram's flood limits as sliding windows; interactive requests before `BULK` ones."""

    def __init__(
        self,
        *,
        bulk_per_second: float = FREE_PER_SECOND,
        overall_per_second: int = FREE_PER_SECOND,
        paid_per_second: int = PAID_PER_SECOND,
        group_per_minute: int = FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP,
        clock: Callable[[], float] | None = None,
        timer: Timer = REAL_TIME,
    ) -> None:
        self.bulk_interval = 1.0 / bulk_per_second if bulk_per_second > 0 else 0.0
        self._timer = timer
        self._clock = clock or timer.now
        self._free = SlidingWindow(overall_per_second, 1.0)
        self._paid = SlidingWindow(paid_per_second, 1.0)
        self._group_per_minute = group_per_minute
        self._groups: dict[int | str, SlidingWindow] = {}
        self._next_bulk = 0.0
        self._bulk_blocked_until = 0.0
        self._changed = asyncio.Event()
        self._bulk_turn = asyncio.Lock()

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    def bulk_blocked_for(self) -> float:
        """Return how many seconds Telegram asked the fan-out to wait (0 when it may go on)."""
        return max(0.0, self._bulk_blocked_until - self._clock())

    def _windows(self, chat_id: int | str, paid: bool) -> list[SlidingWindow]:
        if paid:
            return [self._paid]
        windows = [self._free]
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)
        if isinstance(chat_id, str) or (isinstance(chat_id, int) and chat_id < 0):
            group = self._groups.get(chat_id)
            if group is None:
                if len(self._groups) > 512:  # forget idle groups
                    now = self._clock()
                    for key, window in list(self._groups.items()):
                        if (
                            not window.all.in_flight
                            and window.delay(now) == 0
                            and not window.stamps
                        ):
                            del self._groups[key]
                group = self._groups[chat_id] = SlidingWindow(self._group_per_minute, 60.0)
            windows.append(group)
        return windows

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: str | None,
    ) -> JSONResult:
        """Wait for a slot in every window the request counts in, then send it."""
        chat_id = data.get("chat_id")
        if chat_id is None:  # getMe, answerCallbackQuery...: no flood limit applies
            return await callback(*args, **kwargs)
        windows = self._windows(chat_id, bool(data.get("allow_paid_broadcast")))
        bulk = rate_limit_args == BULK
        retries = 0 if bulk or rate_limit_args == QUEUED else FLOOD_RETRIES
        for attempt in range(retries + 1):
            try:
                return await self._send(callback, args, kwargs, endpoint, windows, bulk)
            except RetryAfter as exc:
                if attempt == retries:
                    raise
                await self._timer.sleep(retry_seconds(exc))
        raise AssertionError("unreachable")  # the loop returns or raises

    async def _send(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONResult]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        windows: list[SlidingWindow],
        bulk: bool,
    ) -> JSONResult:
        await self._acquire(windows, bulk)
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            seconds = retry_seconds(exc)
            if bulk:
                self._bulk_blocked_until = max(self._bulk_blocked_until, self._clock() + seconds)
            log.warning(
                "flood wait", extra=kv(event="flood_wait", endpoint=endpoint, retry_after=seconds)
            )
            raise
        finally:
            now = self._clock()
            for window in windows:
                window.finish(now, bulk=bulk)
            self._notify()

    async def _acquire(self, windows: list[SlidingWindow], bulk: bool) -> None:
        if bulk:
            # One bulk request at a time watches the clock; the others queue in order on the
            # lock instead of all waking on every answer (a fan-out keeps many in flight).
            async with self._bulk_turn:
                await self._slot(windows, bulk=True)
            return
        # A group's own minute first, without counting as waiting for the shared window: a
        # send queued behind the group's 20 a minute must not hold the fan-out for that long.
        own = [w for w in windows if w is not self._free and w is not self._paid]
        while own and (delay := max(w.delay(self._clock()) for w in own)) > 0:
            await self._wait(delay)
        for window in windows:
            window.waiting += 1
        try:
            await self._slot(windows, bulk=False)
        finally:
            for window in windows:
                window.waiting -= 1
            self._notify()

    async def _slot(self, windows: list[SlidingWindow], *, bulk: bool) -> None:
        """Wait until every window has room (and, for bulk, its turn), then take the slots."""
        while True:
            now = self._clock()
            # The fan-out takes at most all but one slot of a window members also use, so an
            # answer finds a free slot, or waits at most for the next one to free up.
            delay = max(
                window.delay(now, reserve=self._reserve(window), bulk=bulk) for window in windows
            )
            if bulk:
                delay = max(delay, self._next_bulk - now, self._bulk_blocked_until - now)
                if any(window.waiting for window in windows):
                    delay = math.inf  # a member's answer is waiting: it goes first
            if delay <= 0:
                for window in windows:
                    window.start(bulk=bulk)
                if bulk:
                    # An absolute schedule, no faster than the windows allow: the window
                    # alone would pace by answers, and each slot would come back a send's
                    # latency late, a few percent of the rate lost.
                    interval = max(
                        [self.bulk_interval]
                        + [w.period / max(1, w.capacity - self._reserve(w)) for w in windows]
                    )
                    slack = max(2 * interval, 0.01)
                    self._next_bulk = max(self._next_bulk, now - slack) + interval
                return
            await self._wait(delay)

    def _reserve(self, window: SlidingWindow) -> int:
        """Return how many slots of `window` the fan-out leaves free (members do not pay)."""
        return 0 if window is self._paid else BULK_RESERVE

    async def _wait(self, delay: float) -> None:
        """Sleep until `delay` passes or something changes (a request returned or left)."""
        changed = self._changed
        if self._timer.manual and not math.isinf(delay):
            await self._timer.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(None if math.isinf(delay) else delay):
                await changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

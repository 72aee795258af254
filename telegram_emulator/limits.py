"""Telegram's flood limits, modelled on an injected clock.

Telegram documents three limits for bots (https://core.telegram.org/bots/faq): about 30
messages per second overall (up to 1000 with ``allow_paid_broadcast``), at most 20 messages per
minute in one group, and in a single private chat "avoid sending more than one message per
second" -- short bursts go through, a sustained rate does not, which is a token bucket.

Only methods that create a message count ("sending" methods). Edits are not counted by default:
Telegram publishes no edit limit and edits are what a bot does in answer to a button press, so
counting them would make the emulator stricter than anything we can point to. Set
``count_edits=True`` to count them against the per-chat limits as well.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from telegram_emulator.clock import Clock


@dataclass(frozen=True)
class RateLimits:
    """How many messages the emulator lets through before answering 429."""

    global_per_second: float = 30
    paid_per_second: float = 1000
    group_per_minute: int = 20
    private_burst: int = 5
    private_refill_per_second: float = 1.0
    count_edits: bool = False
    enabled: bool = True


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """Decides whether one more message may go out now, and how long to wait if not."""

    limits: RateLimits
    clock: Clock
    _overall: deque[float] = field(default_factory=deque)
    _paid: deque[float] = field(default_factory=deque)
    _groups: dict[int, deque[float]] = field(default_factory=dict)
    _private: dict[int, _Bucket] = field(default_factory=dict)

    def acquire(self, chat_id: int, *, is_group: bool, paid: bool = False) -> int | None:
        """Record one message to ``chat_id`` and return None, or return seconds to wait.

        A refused message is not recorded, as Telegram does not count a request it rejected.
        """
        if not self.limits.enabled:
            return None
        now = self.clock()
        waits = [self._overall_wait(now, paid)]
        waits.append(
            self._group_wait(chat_id, now) if is_group else self._private_wait(chat_id, now)
        )
        needed = [w for w in waits if w is not None]
        if needed:
            # Telegram's retry_after is whole seconds and never zero.
            return max(1, math.ceil(max(needed)))
        (self._paid if paid else self._overall).append(now)
        if is_group:
            self._groups.setdefault(chat_id, deque()).append(now)
        else:
            self._private[chat_id].tokens -= 1
        return None

    def acquire_edit(self, chat_id: int, *, is_group: bool) -> int | None:
        """Like :meth:`acquire` for an edit: a no-op unless ``count_edits`` is set."""
        if not self.limits.count_edits:
            return None
        return self.acquire(chat_id, is_group=is_group)

    def _overall_wait(self, now: float, paid: bool) -> float | None:
        window, rate = (
            (self._paid, self.limits.paid_per_second)
            if paid
            else (self._overall, self.limits.global_per_second)
        )
        return _sliding_window_wait(window, now, period=1.0, capacity=int(rate))

    def _group_wait(self, chat_id: int, now: float) -> float | None:
        window = self._groups.setdefault(chat_id, deque())
        return _sliding_window_wait(window, now, period=60.0, capacity=self.limits.group_per_minute)

    def _private_wait(self, chat_id: int, now: float) -> float | None:
        capacity = float(self.limits.private_burst)
        bucket = self._private.setdefault(chat_id, _Bucket(tokens=capacity, updated=now))
        refill = self.limits.private_refill_per_second
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * refill)
        bucket.updated = now
        # Float refills land a hair under a whole token (0.9999999999999996 after exactly the
        # announced wait); a client that waited retry_after must get through.
        if bucket.tokens >= 1 - 1e-9:
            return None
        return (1 - bucket.tokens) / refill


def _sliding_window_wait(
    window: deque[float], now: float, *, period: float, capacity: int
) -> float | None:
    """Drop entries older than ``period``; return how long until one more fits, or None."""
    if capacity <= 0:  # a zero limit means "no limit", like AIORateLimiter's 0
        return None
    # The tolerance absorbs float rounding: a client that waited exactly the announced time
    # (e.g. 1e-160 + 1.0 == 1.0) must find the oldest entry gone.
    while window and window[0] <= now - period + 1e-9:
        window.popleft()
    if len(window) < capacity:
        return None
    # The oldest entry leaves the window first; after that one more message fits.
    return window[len(window) - capacity] + period - now

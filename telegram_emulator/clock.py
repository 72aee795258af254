"""Injected time: the emulator's rate limits and dates read a clock the test can move."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

Clock = Callable[[], float]
"""A monotonic clock in seconds, like :func:`time.monotonic`."""


class ManualClock:
    """A clock that only moves when told to, so tests cross time limits without sleeping."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a monotonic clock cannot go back")
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass at once (a hand clock's sleep) and give other tasks a turn."""
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

"""Clocks: every rule and operation asks one for "now" instead of reading the system time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved: tests and benchmarks drive time with it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self.now = start

    def __call__(self) -> datetime:
        """Return the clock's current instant."""
        return self.now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move the clock forward by `delta` (or timedelta keyword arguments) and return now."""
        step = delta if delta is not None else timedelta(**kwargs)
        # Aware arithmetic in one zone is wall-clock arithmetic (24 hours across a DST change
        # would move 23 or 25 real hours); move in UTC and keep the instant's zone.
        self.now = (self.now.astimezone(UTC) + step).astimezone(self.now.tzinfo)
        return self.now

    def set(self, instant: datetime) -> None:
        """Jump to `instant` (timezone-aware)."""
        if instant.tzinfo is None:
            raise ValueError("ManualClock needs timezone-aware instants")
        self.now = instant

"""Business hours: when people answer support, in the programme's time zone (pure rules).

A working window opens at `start` on each listed weekday and lasts until `end`. An `end` at or
before `start` runs past midnight (22:00-06:00 belongs to the day it starts on); `start == end`
is the whole day. Times are wall-clock times in `zone`, so a daylight-saving change moves the
window with the clock on the wall, as people expect.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A window starting the day before can still be open now; a week ahead always finds the next
# one when any day is listed.
_LOOKBACK_DAYS = 1
_LOOKAHEAD_DAYS = 8


@dataclass(frozen=True)
class BusinessHours:
    """Working windows: `start`-`end` local time on `days` (Monday = 0)."""

    start: time
    end: time
    days: frozenset[int]
    zone: tzinfo

    @classmethod
    def from_names(
        cls, start: time, end: time, days: tuple[str, ...], zone: tzinfo
    ) -> BusinessHours:
        """Build from weekday names ("mon".."sun")."""
        return cls(start, end, frozenset(WEEKDAYS.index(d) for d in days), zone)

    def _window(self, day: date) -> tuple[datetime, datetime]:
        opens = datetime.combine(day, self.start, tzinfo=self.zone)
        closes_day = day if self.end > self.start else day + timedelta(days=1)
        closes = datetime.combine(closes_day, self.end, tzinfo=self.zone)
        return opens.astimezone(UTC), closes.astimezone(UTC)

    def windows(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Yield working windows (UTC) in order, from the one that may contain `instant`."""
        first = instant.astimezone(self.zone).date() - timedelta(days=_LOOKBACK_DAYS)
        for offset in range(_LOOKBACK_DAYS + _LOOKAHEAD_DAYS + 1):
            day = first + timedelta(days=offset)
            if day.weekday() in self.days:
                yield self._window(day)

    def is_open(self, instant: datetime) -> bool:
        """Tell whether `instant` falls inside a working window."""
        return any(opens <= instant < closes for opens, closes in self.windows(instant))

    def next_open(self, instant: datetime) -> datetime | None:
        """Return `instant` if open, else when the next window opens; None if no day is listed."""
        for opens, closes in self.windows(instant):
            if opens <= instant < closes:
                return instant
            if opens > instant:
                return opens
        return None

    def add_working_time(self, instant: datetime, delta: timedelta) -> datetime:
        """Return when `delta` of working time has passed after `instant` (the SLA deadline).

        Time outside the windows does not count: a question asked on Friday evening is due
        `delta` after Monday's opening. With no working day at all, plain time counts.
        """
        remaining, cursor = delta, instant
        # Each pass consumes one window; a week of SLA over one-hour windows is ~170 passes.
        for _ in range(10_000):
            window = next(((o, c) for o, c in self.windows(cursor) if c > cursor), None)
            if window is None:
                return cursor + remaining
            begins = max(cursor, window[0])
            available = window[1] - begins
            if remaining <= available:
                return begins + remaining
            remaining -= available
            cursor = window[1]
        return cursor + remaining

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Return how much of `start`-`end` falls inside working windows (the inverse of
        `add_working_time`: the SLA's own count). With no working day at all, all of it."""
        if end <= start or not self.days:
            return max(end - start, timedelta())
        total, cursor = timedelta(), start
        # Each pass consumes one window, as in add_working_time.
        for _ in range(10_000):
            window = next(((o, c) for o, c in self.windows(cursor) if c > cursor), None)
            if window is None or window[0] >= end:
                break
            total += min(window[1], end) - max(cursor, window[0])
            cursor = window[1]
        return total

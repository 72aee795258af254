"""Programme days: "a day" is a calendar day in the programme's time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache

from loyalty.program import Program

END_OF_DAY = time(23, 59, 59)


def programme_day(program: Program, instant: datetime) -> date:
    """Return the calendar day, in the programme's time zone, that `instant` falls on."""
    return instant.astimezone(program.timezone).date()


def day_start(program: Program, day: date) -> datetime:
    """Return the first instant of `day` in the programme's time zone."""
    return datetime.combine(day, time(0), tzinfo=program.timezone)


def next_day_start(program: Program, instant: datetime) -> datetime:
    """Return when the programme day after the one containing `instant` begins."""
    return day_after_start(program, programme_day(program, instant))


def day_after_start(program: Program, day: date) -> datetime:
    """Return when the programme day after `day` begins (for a caller that knows the day)."""
    return _day_after(program.timezone, day)


@lru_cache(maxsize=64)
def _day_after(zone: tzinfo, day: date) -> datetime:
    # Asked on every /me and every exchange; the answer only changes once a day.
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)


def end_of_day(program: Program, day: date) -> datetime:
    """Return 23:59:59 of `day` in the programme's time zone (the last second coupons live)."""
    return end_of_day_in(program.timezone, day)


def end_of_day_in(zone: tzinfo, day: date) -> datetime:
    """Return 23:59:59 of `day` in `zone` (for a cache keyed by the zone, not the programme)."""
    return datetime.combine(day, END_OF_DAY, tzinfo=zone)

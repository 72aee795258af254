"""The start of a programme day: once per day, at the programme's midnight."""

from __future__ import annotations

from datetime import UTC, date, datetime

from storage import day_start
from storage.store import Store


async def test_start_of_day_runs_once_per_programme_day(store: Store, clock) -> None:
    clock.set(datetime(2026, 3, 10, 0, 0, 5, tzinfo=UTC))
    first = await day_start.start_day(store)
    assert first is not None and first.day == date(2026, 3, 10)
    assert await day_start.start_day(store) is None
    clock.set(datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC))
    assert await day_start.start_day(store) is None
    clock.advance(seconds=1)
    assert (await day_start.start_day(store)).day == date(2026, 3, 11)

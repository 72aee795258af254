"""Business hours: open windows, the next opening, SLA deadlines in working time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from loyalty.hours import WEEKDAYS, BusinessHours

OFFICE = BusinessHours.from_names(time(9), time(18), ("mon", "tue", "wed", "thu", "fri"), UTC)
TUESDAY = datetime(2026, 3, 10, tzinfo=UTC)  # a Tuesday


def at(day_offset: int, hour: int, minute: int = 0) -> datetime:
    return TUESDAY + timedelta(days=day_offset, hours=hour, minutes=minute)


def test_open_inside_the_window_and_closed_at_its_end() -> None:
    assert OFFICE.is_open(at(0, 9)) and OFFICE.is_open(at(0, 17, 59))
    assert not OFFICE.is_open(at(0, 18)) and not OFFICE.is_open(at(0, 8, 59))
    assert not OFFICE.is_open(at(4, 12))  # Saturday


def test_next_open_is_now_when_open_else_the_next_window() -> None:
    assert OFFICE.next_open(at(0, 10)) == at(0, 10)
    assert OFFICE.next_open(at(0, 7)) == at(0, 9)
    assert OFFICE.next_open(at(3, 18, 30)) == at(6, 9)  # Friday evening -> Monday
    assert OFFICE.next_open(at(4, 12)) == at(6, 9)  # Saturday -> Monday


def test_working_time_skips_nights_and_weekends() -> None:
    sla = timedelta(minutes=30)
    assert OFFICE.add_working_time(at(0, 10), sla) == at(0, 10, 30)
    assert OFFICE.add_working_time(at(0, 7), sla) == at(0, 9, 30)
    assert OFFICE.add_working_time(at(3, 17, 50), sla) == at(6, 9, 20)  # Fri 17:50 -> Mon 09:20
    assert OFFICE.add_working_time(at(0, 10), timedelta(hours=20)) == at(2, 12)


def test_working_time_between_two_instants_counts_only_the_windows() -> None:
    assert OFFICE.working_time(at(0, 10), at(0, 10, 31)) == timedelta(minutes=31)
    assert OFFICE.working_time(at(0, 7), at(0, 9, 30)) == timedelta(minutes=30)
    # Friday 17:50 to Monday 09:20: ten minutes on Friday, twenty on Monday.
    assert OFFICE.working_time(at(3, 17, 50), at(6, 9, 20)) == timedelta(minutes=30)
    assert OFFICE.working_time(at(0, 10), at(2, 12)) == timedelta(hours=20)
    assert OFFICE.working_time(at(4, 1), at(4, 23)) == timedelta()  # all of Saturday
    assert OFFICE.working_time(at(0, 12), at(0, 11)) == timedelta()
    for start, delta in ((at(0, 7), timedelta(hours=13)), (at(3, 17), timedelta(minutes=95))):
        assert OFFICE.working_time(start, OFFICE.add_working_time(start, delta)) == delta
    never = BusinessHours.from_names(time(9), time(18), (), UTC)
    assert never.working_time(at(0, 10), at(0, 11)) == timedelta(hours=1)


def test_overnight_window_belongs_to_the_day_it_starts() -> None:
    nights = BusinessHours.from_names(time(22), time(6), ("mon",), UTC)
    monday = at(-1, 0)
    assert nights.is_open(monday + timedelta(hours=23))
    assert nights.is_open(monday + timedelta(hours=29, minutes=59))  # Tuesday 05:59
    assert not nights.is_open(monday + timedelta(hours=30))
    assert nights.next_open(monday + timedelta(hours=12)) == monday + timedelta(hours=22)


def test_whole_day_and_no_day() -> None:
    always = BusinessHours.from_names(time(0), time(0), WEEKDAYS, UTC)
    assert always.is_open(at(4, 3)) and always.next_open(at(4, 3)) == at(4, 3)
    assert always.add_working_time(at(0, 23), timedelta(hours=2)) == at(1, 1)
    never = BusinessHours.from_names(time(9), time(18), (), UTC)
    assert not never.is_open(at(0, 10)) and never.next_open(at(0, 10)) is None
    assert never.add_working_time(at(0, 10), timedelta(minutes=5)) == at(0, 10, 5)


def test_hours_are_wall_clock_in_the_programme_zone() -> None:
    moscow = BusinessHours.from_names(time(9), time(18), WEEKDAYS, ZoneInfo("Europe/Moscow"))
    assert not moscow.is_open(at(0, 5, 59)) and moscow.is_open(at(0, 6))  # 09:00 MSK = 06:00 UTC
    new_york = BusinessHours.from_names(time(9), time(18), WEEKDAYS, ZoneInfo("America/New_York"))
    # Clocks go forward on Sunday 8 March 2026: 09:00 is 14:00 UTC on Saturday, 13:00 on Sunday.
    saturday_evening = datetime(2026, 3, 7, 23, tzinfo=UTC)
    assert new_york.next_open(saturday_evening) == datetime(2026, 3, 8, 13, tzinfo=UTC)

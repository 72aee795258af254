"""Pure reminder rules: quiet hours, the hours to plan (DST included), the check-in offer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty.loader import load_program
from loyalty.reminders import (
    category_of,
    daily_offer,
    hour_start,
    hours_to_plan,
    in_quiet_hours,
    quiet_until,
)

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+05:30: local hours start at half past UTC hours


@pytest.mark.parametrize(
    ("minute", "start", "end", "quiet"),
    [
        (22 * 60, 22 * 60, 8 * 60, True),
        (23 * 60 + 59, 22 * 60, 8 * 60, True),
        (0, 22 * 60, 8 * 60, True),
        (8 * 60 - 1, 22 * 60, 8 * 60, True),
        (8 * 60, 22 * 60, 8 * 60, False),
        (21 * 60 + 59, 22 * 60, 8 * 60, False),
        (13 * 60, 13 * 60, 14 * 60, True),
        (14 * 60, 13 * 60, 14 * 60, False),
        (3 * 60, 0, 0, False),  # start == end: no quiet hours
    ],
)
def test_quiet_hours_may_wrap_midnight(minute: int, start: int, end: int, quiet: bool) -> None:
    assert in_quiet_hours(minute, start, end) is quiet


def test_quiet_until_is_the_next_end_in_the_zone() -> None:
    late = datetime(2026, 3, 10, 22, 30, tzinfo=BERLIN)
    assert quiet_until(late, BERLIN, 22 * 60, 8 * 60) == datetime(2026, 3, 11, 8, 0, tzinfo=BERLIN)
    early = datetime(2026, 3, 11, 2, 0, tzinfo=BERLIN)
    assert quiet_until(early, BERLIN, 22 * 60, 8 * 60) == datetime(2026, 3, 11, 8, 0, tzinfo=BERLIN)
    assert quiet_until(datetime(2026, 3, 11, 9, 0, tzinfo=BERLIN), BERLIN, 22 * 60, 8 * 60) is None
    # 21:00 UTC is 22:00 in Berlin (winter): quiet there, not in UTC.
    utc = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)
    assert quiet_until(utc, UTC, 22 * 60, 8 * 60) is None
    assert quiet_until(utc, BERLIN, 22 * 60, 8 * 60) == datetime(2026, 3, 11, 7, 0, tzinfo=UTC)


def test_hours_to_plan_starts_with_the_current_hour_only() -> None:
    now = datetime(2026, 3, 10, 19, 42, tzinfo=UTC)
    assert hours_to_plan(None, now, UTC) == [datetime(2026, 3, 10, 19, tzinfo=UTC)]


def test_hours_to_plan_catches_up_at_most_a_day() -> None:
    now = datetime(2026, 3, 10, 19, 42, tzinfo=UTC)
    last = datetime(2026, 3, 10, 16, tzinfo=UTC)
    assert [h.hour for h in hours_to_plan(last, now, UTC)] == [17, 18, 19]
    assert hours_to_plan(datetime(2026, 3, 10, 19, tzinfo=UTC), now, UTC) == []
    long_ago = datetime(2026, 3, 1, tzinfo=UTC)
    hours = hours_to_plan(long_ago, now, UTC)
    assert len(hours) == 25 and hours[0] == now.replace(minute=0) - timedelta(days=1)


def test_hours_to_plan_walks_local_hours_across_dst() -> None:
    # 25 October 2026: Berlin goes from 03:00 CEST back to 02:00 CET; 02:00 happens twice.
    last = datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN)
    now = datetime(2026, 10, 25, 4, 10, tzinfo=BERLIN)
    hours = hours_to_plan(last, now, BERLIN)
    assert [h.astimezone(BERLIN).hour for h in hours] == [1, 2, 2, 3, 4]
    assert len({h.astimezone(UTC) for h in hours}) == 5
    # 29 March 2026: 02:00 does not exist.
    last = datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN)
    now = datetime(2026, 3, 29, 4, 10, tzinfo=BERLIN)
    assert [h.astimezone(BERLIN).hour for h in hours_to_plan(last, now, BERLIN)] == [1, 3, 4]


def test_local_hours_in_a_half_hour_zone() -> None:
    now = datetime(2026, 3, 10, 13, 45, tzinfo=UTC)  # 19:15 in Kolkata
    start = hour_start(now, KOLKATA)
    assert start.astimezone(UTC) == datetime(2026, 3, 10, 13, 30, tzinfo=UTC)
    assert [h.astimezone(KOLKATA).hour for h in hours_to_plan(start - timedelta(hours=2), now,
                                                              KOLKATA)] == [18, 19]  # fmt: skip


def test_the_check_in_offer_names_the_streak_at_risk() -> None:
    program = load_program({"preset": "marketplace"})
    today = date(2026, 3, 10)
    assert daily_offer(program, today, 4, today) is None
    at_risk = daily_offer(program, today - timedelta(days=1), 4, today)
    assert at_risk is not None
    assert (at_risk.streak_at_risk, at_risk.coins, at_risk.points) == (4, 20, 20)  # day 5
    broken = daily_offer(program, today - timedelta(days=2), 4, today)
    assert broken is not None and (broken.streak_at_risk, broken.coins) == (0, 10)
    assert daily_offer(program, None, 0, today).coins == 10  # type: ignore[union-attr]


def test_unknown_kinds_count_as_account_notices() -> None:
    assert category_of("coupon_burn") == "burn"
    assert category_of("something_new") == "account"

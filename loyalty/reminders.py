"""Reminder rules: kinds and modes, quiet hours, which hours to plan, the daily check-in offer.

Times of day (the reminder hour, quiet hours) are in the programme's time zone: members have
no zone of their own here, and "a day" is already a programme day everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from loyalty.earning import coins_for_streak_day, next_streak
from loyalty.program import Program

# What a member can switch on, off or to silent, and which notice kinds each covers.
CATEGORIES = ("daily", "expiry", "burn", "account")
MODES = ("on", "silent", "off")
KIND_CATEGORY = {
    "daily_checkin": "daily",
    "coupon_expiry": "expiry",
    "coupon_burn": "burn",
    "order_points": "account",
    "clawback": "account",
    "level_changed": "account",
    "hold_released": "account",
}
# Notices that answer something the member just asked for (the code of the coupon they bought
# from a connected shop, or why it was undone): sent whatever the settings and quiet hours.
ANSWERS = frozenset({"coupon_ready", "coupon_refused"})
# After downtime, hours are planned at most this far back: older reminders are no use.
MAX_CATCH_UP = timedelta(hours=24)
HOUR = timedelta(hours=1)


def category_of(kind: str) -> str:
    """Return the settings category of a notice kind (unknown kinds count as account notices)."""
    return KIND_CATEGORY.get(kind, "account")


def minutes(value: time) -> int:
    """Return a time of day as minutes after midnight."""
    return value.hour * 60 + value.minute


@dataclass(frozen=True)
class ReminderPolicy:
    """The configured defaults: reminder hour, digest days, quiet hours (minutes after midnight).

    No defaults of its own: they live on the config (`bot.config.RemindersConfig.policy()`).
    """

    enabled: bool
    default_hour: int
    expiry_days: tuple[int, ...]
    burn_days: tuple[int, ...]
    quiet_start: int
    quiet_end: int


def in_quiet_hours(minute_of_day: int, start: int, end: int) -> bool:
    """Tell whether a local minute of the day falls in [start, end), which may wrap midnight."""
    if start == end:
        return False
    if start < end:
        return start <= minute_of_day < end
    return minute_of_day >= start or minute_of_day < end


def quiet_until(instant: datetime, zone: tzinfo, start: int, end: int) -> datetime | None:
    """Return when the quiet hours containing `instant` end, or None if it is not quiet then."""
    local = instant.astimezone(zone)
    if not in_quiet_hours(local.hour * 60 + local.minute, start, end):
        return None
    end_time = time(end // 60, end % 60)
    candidate = datetime.combine(local.date(), end_time, tzinfo=zone)
    if candidate <= instant:
        candidate = datetime.combine(local.date() + timedelta(days=1), end_time, tzinfo=zone)
    return candidate


def hour_start(instant: datetime, zone: tzinfo) -> datetime:
    """Return the start of the local hour containing `instant`, in UTC."""
    local = instant.astimezone(zone)
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def hours_to_plan(last_planned: datetime | None, now: datetime, zone: tzinfo) -> list[datetime]:
    """Return the local hour starts (in UTC) not planned yet, oldest first, a day back at most.

    The first run ever plans only the current hour, so a new service does not send a day's
    worth of reminders at once.
    """
    current = hour_start(now, zone)
    if last_planned is None:
        return [current]
    # Arithmetic in UTC: aware local datetimes add wall-clock time and would skip the repeated
    # hour when DST ends.
    step = hour_start(max(last_planned.astimezone(UTC) + HOUR, current - MAX_CATCH_UP), zone)
    hours = []
    while step <= current:
        hours.append(step)
        step = hour_start(step + HOUR, zone)
    return hours


@dataclass(frozen=True)
class DailyOffer:
    """What today's check-in would pay, and the streak a missed day would end (0 if none)."""

    streak_at_risk: int
    coins: int
    points: int


def daily_offer(
    program: Program, last_claim_day: date | None, streak: int, today: date
) -> DailyOffer | None:
    """Return today's check-in offer, or None when the member already checked in today."""
    if last_claim_day == today:
        return None
    continuing = last_claim_day is not None and last_claim_day == today - timedelta(days=1)
    return DailyOffer(
        streak_at_risk=streak if continuing else 0,
        coins=coins_for_streak_day(program, next_streak(last_claim_day, streak, today)),
        points=program.earning.daily_checkin_points,
    )

"""How many points or coins an activity earns."""

from __future__ import annotations

from datetime import date, timedelta

from loyalty.program import Program


def order_points(program: Program, amount_cents: int) -> int:
    """Points for a delivered order: per whole dollar, only for orders strictly over the minimum."""
    rule = program.earning
    if rule.order_points_per_dollar == 0 or amount_cents <= rule.order_min_cents:
        return 0
    return amount_cents // 100 * rule.order_points_per_dollar


def review_points(program: Program, order_amount_cents: int) -> int:
    """Points for reviewing a delivered order: a fixed amount plus a share of it, rounded down."""
    rule = program.earning
    share = order_amount_cents * rule.review_percent_bp // (10_000 * program.point_value_cents)
    return rule.review_points + share


def next_streak(last_claim_day: date | None, streak: int, today: date) -> int:
    """Return the streak after claiming `today`: one more if yesterday was claimed, else 1."""
    if last_claim_day is not None and last_claim_day == today - timedelta(days=1):
        return streak + 1
    return 1


def coins_for_streak_day(program: Program, streak_day: int) -> int:
    """Coins for day `streak_day` (1-based) of a streak; past the schedule, its last amount."""
    schedule = program.coins.streak
    if not program.coins.enabled or not schedule or streak_day < 1:
        return 0
    return schedule[min(streak_day, len(schedule)) - 1]


def refund_share(earned: int, refunded_cents: int, amount_cents: int) -> int:
    """Points a refund of `refunded_cents` (all refunds so far) takes back of `earned`.

    Proportional and rounded down, so that a run of partial refunds never takes back more than
    one refund of their sum would; a refund of the whole amount takes back everything.
    """
    if amount_cents <= 0 or refunded_cents >= amount_cents:
        return earned
    return earned * max(0, refunded_cents) // amount_cents

"""Which level a member has, and what the next one takes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from loyalty.program import Program, Requirement, Tier


@dataclass(frozen=True)
class Standing:
    """What a member has done, as far as levels are concerned."""

    points: int = 0
    spend_cents: int = 0
    email_verified: bool = False
    best_delivered_order_cents: int = 0


@dataclass(frozen=True)
class NextLevel:
    """The next level up and what is still missing to reach it."""

    tier: Tier
    points_needed: int
    spend_needed_cents: int
    missing: tuple[Requirement, ...]


def meets(requirement: Requirement, standing: Standing) -> bool:
    """Tell whether `standing` satisfies one level requirement."""
    if requirement.kind == "email_verified":
        return standing.email_verified
    return standing.best_delivered_order_cents > requirement.cents


def climb(program: Program, standing: Standing) -> tuple[Tier, NextLevel | None]:
    """Return the member's level and the next one up (None at the top) in one walk.

    The level is the highest whose threshold and requirements (its own and those of every
    level below it: the ladder is climbed, not jumped) the member meets.
    """
    tiers = program.levels.tiers
    by_points = program.levels.basis == "points"
    measure = standing.points if by_points else standing.spend_cents
    index = 0
    for i in range(1, len(tiers)):
        tier = tiers[i]
        if tier.requires and not all(meets(r, standing) for r in tier.requires):
            break
        if measure >= (tier.min_points if by_points else tier.min_spend_cents):
            index = i
    if index + 1 == len(tiers):
        return tiers[index], None
    target = tiers[index + 1]
    needed = max(0, (target.min_points if by_points else target.min_spend_cents) - measure)
    # What is still missing on the way up, once each, in ladder order (a plain loop: this
    # runs on every lookup, and a generator through dict.fromkeys costs twice as much).
    missing: list[Requirement] = []
    for t in tiers[: index + 2]:
        for r in t.requires:
            if r not in missing and not meets(r, standing):
                missing.append(r)
    return tiers[index], NextLevel(
        tier=target,
        points_needed=needed if by_points else 0,
        spend_needed_cents=0 if by_points else needed,
        missing=tuple(missing),
    )


def tier_for(program: Program, standing: Standing) -> Tier:
    """Return the member's level (see `climb`)."""
    return climb(program, standing)[0]


def next_level(program: Program, standing: Standing) -> NextLevel | None:
    """Return the level right above the member's, or None at the top."""
    return climb(program, standing)[1]


def window_start(program: Program, now: datetime) -> datetime | None:
    """Return the oldest instant that still counts toward the level, or None for lifetime."""
    days = program.levels.window_days
    return now - _days(days) if days else None


@lru_cache(maxsize=8)
def _days(days: int) -> timedelta:
    # Asked on every member lookup: a cached timedelta is an eighth of the cost of a new one.
    return timedelta(days=days)

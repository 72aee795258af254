"""Coupon prices and expiry, including the yearly burn."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache

from loyalty.calendar import end_of_day, end_of_day_in, programme_day
from loyalty.program import Program


@dataclass(frozen=True)
class CouponExpiry:
    """When a coupon issued at some instant stops being valid, and whether the burn cut it short."""

    expires_at: datetime
    burns: bool
    cut_short: bool


def next_burn(program: Program, instant: datetime) -> datetime | None:
    """Return the burn instant (end of the burn day) at or after `instant`, or None if no burn."""
    month_day = program.coupons.burn_month_day
    if month_day is None:
        return None
    year = programme_day(program, instant).year
    burn = _burn_of(program.timezone, month_day, year)
    if burn < instant:
        burn = _burn_of(program.timezone, month_day, year + 1)
    return burn


@lru_cache(maxsize=16)
def _burn_of(zone: tzinfo, month_day: tuple[int, int], year: int) -> datetime:
    # Asked on every member lookup; the answer changes once a year.
    return end_of_day_in(zone, date(year, *month_day))


def coupon_expiry(program: Program, issued_at: datetime) -> CouponExpiry:
    """Return a coupon's expiry: end of day `validity_days` after issue, or the burn if sooner."""
    natural = end_of_day(
        program, programme_day(program, issued_at) + timedelta(days=program.coupons.validity_days)
    )
    burn = next_burn(program, issued_at)
    if burn is not None and burn <= natural:
        return CouponExpiry(expires_at=burn, burns=True, cut_short=burn < natural)
    return CouponExpiry(expires_at=natural, burns=False, cut_short=False)


def expired_cutoff(now: datetime) -> datetime:
    """Return the instant at or before which an `expires_at` means "no longer usable".

    `expires_at` names the last second a coupon is valid (23:59:59), so it is usable until
    one second later: at 00:00:00 the next day it is gone.
    """
    return now - timedelta(seconds=1)

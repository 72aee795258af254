"""The pure rules of `loyalty/` at their edges: amounts, levels, expiry, days, streaks, caps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty.calendar import (
    day_after_start,
    day_start,
    end_of_day,
    next_day_start,
    programme_day,
)
from loyalty.checkout import cap_bp, max_points
from loyalty.clock import ManualClock
from loyalty.coupons import coupon_expiry, expired_cutoff, next_burn
from loyalty.earning import coins_for_streak_day, next_streak, order_points, review_points
from loyalty.levels import Standing, next_level, tier_for, window_start
from loyalty.loader import load_program
from loyalty.program import Program, Requirement

MARKET = load_program({"preset": "marketplace"})
VIP = load_program({"preset": "vip-shop"})
SHANGHAI = ZoneInfo("Asia/Shanghai")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def market_in(tz: str) -> Program:
    return load_program({"preset": "marketplace", "timezone": tz})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- earning --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_cents", "points"),
    [(0, 0), (199, 0), (200, 0), (201, 2), (299, 2), (300, 3), (10_099, 100), (1_234_567, 12_345)],
)
def test_order_points_per_whole_dollar_strictly_over_two_dollars(
    amount_cents: int, points: int
) -> None:
    assert order_points(MARKET, amount_cents) == points


def test_vip_shop_orders_earn_no_points_by_themselves() -> None:
    assert order_points(VIP, 500_000) == 0


@pytest.mark.parametrize(
    ("amount_cents", "points"),
    [(0, 0), (9_999, 0), (10_000, 1), (15_099, 1), (19_999, 1), (20_000, 2), (123_456, 12)],
)
def test_vip_review_points_are_one_percent_rounded_down(amount_cents: int, points: int) -> None:
    assert review_points(VIP, amount_cents) == points


def test_marketplace_review_is_one_point_whatever_the_amount() -> None:
    assert review_points(MARKET, 201) == 1
    assert review_points(MARKET, 1_000_000) == 1


# --- levels ---------------------------------------------------------------------------------


def market_tier(points: int, best: int = 5_000) -> str:
    return tier_for(MARKET, Standing(points=points, best_delivered_order_cents=best)).code


def test_marketplace_level_thresholds_and_one_point_below() -> None:
    assert market_tier(0) == "A0"
    assert market_tier(1) == "A1"
    assert market_tier(99) == "A1"
    assert market_tier(100) == "A2"
    assert market_tier(499) == "A2"
    assert market_tier(500) == "A3"
    assert market_tier(1_999) == "A3"
    assert market_tier(2_000) == "A4"


def test_a1_needs_a_delivered_order_over_two_dollars() -> None:
    assert market_tier(50, best=0) == "A0"
    assert market_tier(50, best=200) == "A0"  # exactly $2 is not "over $2"
    assert market_tier(50, best=201) == "A1"
    # The ladder is climbed, not jumped: points alone never pass the A1 condition.
    assert market_tier(5_000, best=200) == "A0"


def vip_tier(spend: int, verified: bool = True) -> str:
    return tier_for(VIP, Standing(spend_cents=spend, email_verified=verified)).code


def test_vip_unverified_vs_regular_by_email() -> None:
    assert vip_tier(0, verified=False) == "unverified"
    assert vip_tier(0, verified=True) == "regular"
    # Spend does not help without a verified e-mail.
    assert vip_tier(1_000_000, verified=False) == "unverified"


def test_vip_spend_thresholds() -> None:
    assert vip_tier(19_999) == "regular"
    assert vip_tier(20_000) == "vip_d"
    assert vip_tier(79_999) == "vip_d"
    assert vip_tier(80_000) == "vip_c"
    assert vip_tier(149_999) == "vip_c"
    assert vip_tier(150_000) == "vip_b"
    assert vip_tier(299_999) == "vip_b"
    assert vip_tier(300_000) == "vip_a"
    assert vip_tier(499_999) == "vip_a"
    assert vip_tier(500_000) == "top_vip"


def test_next_level_progress_by_points() -> None:
    nxt = next_level(MARKET, Standing(points=0))
    assert nxt is not None
    assert nxt.tier.code == "A1"
    assert nxt.points_needed == 1
    assert nxt.spend_needed_cents == 0
    assert nxt.missing == (Requirement("delivered_order_over", 200),)

    nxt = next_level(MARKET, Standing(points=99, best_delivered_order_cents=201))
    assert nxt is not None
    assert (nxt.tier.code, nxt.points_needed, nxt.missing) == ("A2", 1, ())

    # Plenty of points, but the A1 condition is still missing: it is named.
    nxt = next_level(MARKET, Standing(points=150))
    assert nxt is not None
    assert (nxt.tier.code, nxt.points_needed) == ("A1", 0)
    assert nxt.missing == (Requirement("delivered_order_over", 200),)

    assert next_level(MARKET, Standing(points=2_000, best_delivered_order_cents=201)) is None


def test_next_level_progress_by_spend() -> None:
    nxt = next_level(VIP, Standing(spend_cents=50_000))
    assert nxt is not None
    assert nxt.tier.code == "regular"
    assert nxt.spend_needed_cents == 0
    assert nxt.missing == (Requirement("email_verified"),)

    nxt = next_level(VIP, Standing(spend_cents=19_999, email_verified=True))
    assert nxt is not None
    assert (nxt.tier.code, nxt.spend_needed_cents, nxt.points_needed) == ("vip_d", 1, 0)
    assert nxt.missing == ()

    nxt = next_level(VIP, Standing(spend_cents=20_000, email_verified=True))
    assert nxt is not None
    assert (nxt.tier.code, nxt.spend_needed_cents) == ("vip_c", 60_000)

    assert next_level(VIP, Standing(spend_cents=500_000, email_verified=True)) is None


def test_level_window() -> None:
    now = utc(2026, 3, 10, 9)
    assert window_start(MARKET, now) == now - timedelta(days=365)
    assert window_start(VIP, now) is None


# --- programme days -------------------------------------------------------------------------


def test_day_boundary_in_shanghai() -> None:
    program = market_in("Asia/Shanghai")
    last_second = datetime(2026, 3, 10, 23, 59, 59, tzinfo=SHANGHAI)
    midnight = datetime(2026, 3, 11, 0, 0, 0, tzinfo=SHANGHAI)
    assert programme_day(program, last_second) == date(2026, 3, 10)
    assert programme_day(program, midnight) == date(2026, 3, 11)
    # Same instants seen in UTC (15:59:59 / 16:00:00 on 10 March) give the local day.
    assert programme_day(program, last_second.astimezone(UTC)) == date(2026, 3, 10)
    assert programme_day(program, midnight.astimezone(UTC)) == date(2026, 3, 11)
    # In UTC both instants are on 10 March.
    assert programme_day(MARKET, midnight) == date(2026, 3, 10)
    assert next_day_start(program, last_second) == midnight
    assert next_day_start(program, last_second).astimezone(UTC) == utc(2026, 3, 10, 16)
    assert next_day_start(program, midnight) == datetime(2026, 3, 12, tzinfo=SHANGHAI)


def test_day_boundary_in_los_angeles_across_dst() -> None:
    program = market_in("America/Los_Angeles")
    # 8 March 2026: clocks go forward at 02:00; the day is 23 hours long.
    start = day_start(program, date(2026, 3, 8))
    nxt = day_start(program, date(2026, 3, 9))
    assert start.astimezone(UTC) == utc(2026, 3, 8, 8)
    assert nxt.astimezone(UTC) == utc(2026, 3, 9, 7)
    assert nxt.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    assert programme_day(program, utc(2026, 3, 9, 6, 59, 59)) == date(2026, 3, 8)
    assert programme_day(program, utc(2026, 3, 9, 7)) == date(2026, 3, 9)
    assert end_of_day(program, date(2026, 3, 8)).astimezone(UTC) == utc(2026, 3, 9, 6, 59, 59)


# --- coupon expiry and the burn -------------------------------------------------------------


def local(program: Program, *args: int) -> datetime:
    return datetime(*args, tzinfo=program.timezone)


def test_coupon_issued_20_june_burns_on_30_june() -> None:
    expiry = coupon_expiry(MARKET, utc(2026, 6, 20, 12))
    assert expiry.expires_at == utc(2026, 6, 30, 23, 59, 59)
    assert expiry.burns and expiry.cut_short


def test_coupon_issued_1_june_is_cut_short_by_one_day() -> None:
    expiry = coupon_expiry(MARKET, utc(2026, 6, 1, 0, 0, 0))
    assert expiry.expires_at == utc(2026, 6, 30, 23, 59, 59)
    assert expiry.burns and expiry.cut_short


def test_coupon_issued_31_may_expires_naturally_at_the_burn() -> None:
    expiry = coupon_expiry(MARKET, utc(2026, 5, 31, 23, 59, 59))
    assert expiry.expires_at == utc(2026, 6, 30, 23, 59, 59)
    assert expiry.burns
    assert not expiry.cut_short  # 30 days end exactly at the burn: nothing is taken away


def test_coupon_issued_30_may_is_untouched_by_the_burn() -> None:
    expiry = coupon_expiry(MARKET, utc(2026, 5, 30, 8))
    assert expiry.expires_at == utc(2026, 6, 29, 23, 59, 59)
    assert not expiry.burns and not expiry.cut_short


def test_coupon_issued_1_july_does_not_reach_next_years_burn() -> None:
    expiry = coupon_expiry(MARKET, utc(2026, 7, 1, 0, 0, 0))
    assert expiry.expires_at == utc(2026, 7, 31, 23, 59, 59)
    assert not expiry.burns and not expiry.cut_short
    assert next_burn(MARKET, utc(2026, 7, 1)) == utc(2027, 6, 30, 23, 59, 59)


def test_coupon_issued_in_the_last_second_before_the_burn() -> None:
    expiry = coupon_expiry(MARKET, utc(2026, 6, 30, 23, 59, 59))
    assert expiry.expires_at == utc(2026, 6, 30, 23, 59, 59)
    assert expiry.cut_short


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/Los_Angeles"])
def test_next_burn_around_the_burn_second_in_each_zone(zone: str) -> None:
    # The burn instant is cached per year: the last second of the burn day and the instants
    # just after it must still move to next year's, in any zone.
    program = market_in(zone)
    tz = ZoneInfo(zone)
    this_year = datetime(2026, 6, 30, 23, 59, 59, tzinfo=tz)
    next_year = datetime(2027, 6, 30, 23, 59, 59, tzinfo=tz)
    assert next_burn(program, this_year - timedelta(days=200)) == this_year
    assert next_burn(program, this_year - timedelta(microseconds=1)) == this_year
    assert next_burn(program, this_year) == this_year  # the burn second itself still burns
    assert next_burn(program, this_year + timedelta(microseconds=1)) == next_year
    assert next_burn(program, this_year + timedelta(seconds=1)) == next_year  # July 1st
    later = next_burn(program, next_year + timedelta(seconds=1))
    assert later is not None and later.year == 2028


def test_day_after_start_is_the_next_day_start_of_any_instant_that_day() -> None:
    program = market_in("Asia/Shanghai")
    day = date(2026, 12, 31)
    starts = {
        next_day_start(program, day_start(program, day) + timedelta(hours=h)) for h in (0, 12, 23)
    }
    assert starts == {day_after_start(program, day)} == {day_start(program, date(2027, 1, 1))}


def test_the_level_window_follows_each_programmes_own_length() -> None:
    short = load_program({"preset": "marketplace", "levels": {"window_days": 30}})
    now = utc(2026, 3, 10, 9)
    assert window_start(short, now) == now - timedelta(days=30)
    assert window_start(MARKET, now) == now - timedelta(days=365)


def test_no_burn_configured() -> None:
    program = load_program({"preset": "marketplace", "coupons": {"burn_date": ""}})
    assert next_burn(program, utc(2026, 6, 20)) is None
    expiry = coupon_expiry(program, utc(2026, 6, 20, 12))
    assert expiry.expires_at == utc(2026, 7, 20, 23, 59, 59)
    assert not expiry.burns and not expiry.cut_short


def test_coupon_expiry_in_shanghai() -> None:
    program = market_in("Asia/Shanghai")
    expiry = coupon_expiry(program, local(program, 2026, 6, 20, 10))
    assert expiry.expires_at == local(program, 2026, 6, 30, 23, 59, 59)
    assert expiry.expires_at.astimezone(UTC) == utc(2026, 6, 30, 15, 59, 59)
    assert expiry.cut_short
    # 17:00 UTC on 30 June is already 1 July in Shanghai: past this year's burn.
    expiry = coupon_expiry(program, utc(2026, 6, 30, 17))
    assert expiry.expires_at == local(program, 2026, 7, 31, 23, 59, 59)
    assert not expiry.burns
    # 15:00 UTC on 30 June is 23:00 in Shanghai: still cut short by tonight's burn.
    expiry = coupon_expiry(program, utc(2026, 6, 30, 15))
    assert expiry.expires_at.astimezone(UTC) == utc(2026, 6, 30, 15, 59, 59)
    assert expiry.cut_short
    # The natural expiry counts local days: 23:30 local on 10 March is 15:30 UTC.
    expiry = coupon_expiry(program, local(program, 2026, 3, 10, 23, 30))
    assert expiry.expires_at == local(program, 2026, 4, 9, 23, 59, 59)


def test_coupon_expiry_in_los_angeles_across_the_autumn_dst_change() -> None:
    program = market_in("America/Los_Angeles")
    # Issued in PDT (UTC-7); 30 days later it ends in PST (UTC-8), after 1 November 2026.
    issued = local(program, 2026, 10, 20, 12)
    assert issued.utcoffset() == timedelta(hours=-7)
    expiry = coupon_expiry(program, issued)
    assert expiry.expires_at == local(program, 2026, 11, 19, 23, 59, 59)
    assert expiry.expires_at.utcoffset() == timedelta(hours=-8)
    assert expiry.expires_at.astimezone(UTC) == utc(2026, 11, 20, 7, 59, 59)
    # Issued late evening local: already the next day in UTC, but local day counts.
    expiry = coupon_expiry(program, utc(2026, 10, 21, 6))  # 23:00 PDT on 20 October
    assert expiry.expires_at.astimezone(UTC) == utc(2026, 11, 20, 7, 59, 59)


def test_coupon_burn_in_los_angeles() -> None:
    program = market_in("America/Los_Angeles")
    expiry = coupon_expiry(program, local(program, 2026, 6, 20, 9))
    assert expiry.expires_at.astimezone(UTC) == utc(2026, 7, 1, 6, 59, 59)  # 23:59:59 PDT
    assert expiry.cut_short
    # 1 July 03:00 UTC is still 30 June (20:00 PDT) in Los Angeles: cut short tonight.
    expiry = coupon_expiry(program, utc(2026, 7, 1, 3))
    assert expiry.expires_at.astimezone(UTC) == utc(2026, 7, 1, 6, 59, 59)


def test_expired_cutoff_at_the_last_second_and_midnight() -> None:
    expires_at = utc(2026, 6, 30, 23, 59, 59)
    # At 23:59:59 the coupon is still usable: its expiry is after the cutoff.
    assert not expires_at <= expired_cutoff(utc(2026, 6, 30, 23, 59, 59))
    assert not expires_at <= expired_cutoff(datetime(2026, 6, 30, 23, 59, 59, 999_999, tzinfo=UTC))
    # At 00:00:00 the next day it is gone.
    assert expires_at <= expired_cutoff(utc(2026, 7, 1, 0, 0, 0))
    assert expired_cutoff(utc(2026, 7, 1)) == expires_at


# --- streaks --------------------------------------------------------------------------------


def test_streak_consecutive_and_broken() -> None:
    d = date(2026, 3, 10)
    assert next_streak(None, 0, d) == 1
    assert next_streak(d - timedelta(days=1), 1, d) == 2
    assert next_streak(d - timedelta(days=1), 7, d) == 8
    assert next_streak(d - timedelta(days=2), 6, d) == 1  # one missed day
    assert next_streak(d - timedelta(days=400), 6, d) == 1


def test_coins_for_each_streak_day() -> None:
    coins = [coins_for_streak_day(MARKET, n) for n in range(1, 11)]
    assert coins == [10, 10, 15, 15, 20, 20, 30, 30, 30, 30]
    assert coins_for_streak_day(MARKET, 365) == 30
    assert coins_for_streak_day(MARKET, 0) == 0
    assert coins_for_streak_day(VIP, 1) == 0  # no coins in vip-shop


def test_streak_sequence_with_a_gap() -> None:
    """Walk seven days with day 4 missed: 1, 2, 3, (gap), 1, 2, 3 -> 10, 10, 15, 10, 10, 15."""
    streak, last, paid = 0, None, []
    for day in (1, 2, 3, 5, 6, 7):
        today = date(2026, 3, day)
        streak = next_streak(last, streak, today)
        last = today
        paid.append(coins_for_streak_day(MARKET, streak))
    assert paid == [10, 10, 15, 10, 10, 15]


# --- checkout caps --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_cents", "bp", "points"),
    [
        (1, 200, 0),
        (4_999, 200, 0),  # 2% of $49.99 is $0.9998: no whole point
        (5_000, 300, 1),  # 3% of $50 is $1.50
        (9_999, 300, 2),
        (10_000, 400, 4),
        (19_999, 400, 7),
        (20_000, 500, 10),
        (100_000, 500, 50),
    ],
)
def test_checkout_cap_breakpoints(amount_cents: int, bp: int, points: int) -> None:
    regular = VIP.levels.by_code("regular")
    assert regular is not None
    assert cap_bp(VIP, amount_cents) == bp
    assert max_points(VIP, regular, 1_000_000, amount_cents) == points


def test_checkout_never_above_five_percent() -> None:
    top = VIP.levels.by_code("top_vip")
    assert top is not None
    for amount in (1, 4_999, 5_000, 9_999, 10_000, 19_999, 20_000, 99_999_999):
        assert max_points(VIP, top, 10**9, amount) * 100 <= amount * 5 // 100


def test_checkout_quote_is_capped_by_balance() -> None:
    regular = VIP.levels.by_code("regular")
    assert regular is not None
    assert max_points(VIP, regular, 3, 20_000) == 3
    assert max_points(VIP, regular, 0, 20_000) == 0
    assert max_points(VIP, regular, 10, 20_000) == 10
    assert max_points(VIP, regular, 11, 20_000) == 10


def test_level_without_checkout_gets_zero() -> None:
    unverified = VIP.levels.by_code("unverified")
    assert unverified is not None
    assert max_points(VIP, unverified, 1_000, 20_000) == 0
    a4 = MARKET.levels.by_code("A4")
    assert a4 is not None
    assert max_points(MARKET, a4, 1_000, 20_000) == 0  # the programme has no checkout
    regular = VIP.levels.by_code("regular")
    assert regular is not None
    assert max_points(VIP, regular, 1_000, 0) == 0
    assert max_points(VIP, regular, 1_000, -20_000) == 0


# --- the manual clock -----------------------------------------------------------------------


def test_manual_clock_moves_elapsed_time_across_dst() -> None:
    clock = ManualClock(datetime(2026, 3, 7, 12, tzinfo=LOS_ANGELES))
    clock.advance(hours=24)  # across the spring change: 24 real hours, 13:00 local
    assert clock() == datetime(2026, 3, 8, 20, tzinfo=UTC)
    assert clock().tzinfo is LOS_ANGELES
    assert clock().hour == 13
    clock.set(datetime(2026, 11, 1, 0, 30, tzinfo=LOS_ANGELES))  # 07:30 UTC
    clock.advance(hours=1)
    clock.advance(timedelta(hours=1))
    # Two hours later, not three: 01:30 local for the second time (PST). `==` across zones is
    # always False for an ambiguous local time (PEP 495), so compare in UTC.
    assert clock().astimezone(UTC) == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    assert (clock().hour, clock().fold) == (1, 1)
    assert clock.advance(seconds=1).astimezone(UTC) == datetime(2026, 11, 1, 9, 30, 1, tzinfo=UTC)


def test_manual_clock_needs_aware_instants() -> None:
    with pytest.raises(ValueError):
        ManualClock(datetime(2026, 3, 10, 9))  # noqa: DTZ001
    clock = ManualClock(utc(2026, 3, 10, 9))
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 3, 10, 9))  # noqa: DTZ001

"""The shipped presets carry exactly the numbers of PROGRAM.md; a broken programme says all."""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.loader import ProgramInvalid, load_program, merge, parse_month_day, preset_table
from loyalty.program import CheckoutCap, CouponOption, Requirement


def problems_of(table: dict[str, Any]) -> dict[str, str]:
    """Load a broken programme and return {key path: its messages joined by " | "}."""
    with pytest.raises(ProgramInvalid) as caught:
        load_program(table)
    problems = caught.value.problems
    assert problems, "ProgramInvalid without problems"
    # Every problem is also in the exception's message, so a log line shows them all.
    for p in problems:
        assert str(p) in str(caught.value)
    found: dict[str, str] = {}
    for p in problems:
        found[p.path] = f"{found[p.path]} | {p.message}" if p.path in found else p.message
    return found


def tiers_of(preset: str) -> list[dict[str, Any]]:
    return preset_table(preset)["levels"]["tiers"]


# --- marketplace ----------------------------------------------------------------------------


def test_marketplace_levels_thresholds_and_perks() -> None:
    program = load_program({"preset": "marketplace"})
    levels = program.levels
    assert program.preset == "marketplace"
    assert levels.basis == "points"
    assert levels.window_days == 365
    assert [t.code for t in levels.tiers] == ["A0", "A1", "A2", "A3", "A4"]
    assert [t.min_points for t in levels.tiers] == [0, 1, 100, 500, 2000]
    assert [t.requires for t in levels.tiers] == [
        (),
        (Requirement("delivered_order_over", 200),),
        (),
        (),
        (),
    ]
    base = ["promo_emails", "price_drop_alerts"]
    assert [[p.code for p in t.perks] for t in levels.tiers] == [
        base,
        base,
        base,
        [*base, "fast_refund_25"],
        [*base, "fast_refund_all", "priority_disputes"],
    ]
    # Every perk has English text; the marketplace levels pay nothing at checkout.
    assert all(p.text_for("en") for t in levels.tiers for p in t.perks)
    assert not any(t.checkout for t in levels.tiers)
    assert not program.checkout.enabled


def test_marketplace_earning() -> None:
    e = load_program({"preset": "marketplace"}).earning
    assert (e.order_points_per_dollar, e.order_min_cents) == (1, 200)
    assert (e.review_points, e.review_percent_bp) == (1, 0)
    assert e.daily_purchase_points == 5
    assert e.daily_checkin_points == 20
    assert e.email_verified_points == 0
    assert (e.referrer_points, e.referrer_on) == (50, "registered")
    assert e.referee_points == 0


def test_marketplace_coupons_and_coins() -> None:
    program = load_program({"preset": "marketplace"})
    c = program.coupons
    assert c.enabled
    assert c.daily_limit == 3
    assert c.validity_days == 30
    assert c.burn_month_day == (6, 30)
    assert c.options == (
        CouponOption(500, 500, 500),
        CouponOption(1000, 1000, 1000),
        CouponOption(2000, 2000, 2000),
    )
    assert program.point_value_cents == 1
    assert program.coins.enabled
    assert program.coins.streak == (10, 10, 15, 15, 20, 20, 30)
    assert str(program.timezone) == "UTC"


# --- vip-shop -------------------------------------------------------------------------------


def test_vip_shop_levels_spend_and_discounts() -> None:
    program = load_program({"preset": "vip-shop"})
    levels = program.levels
    assert levels.basis == "spend"
    assert levels.window_days == 0
    assert [t.name for t in levels.tiers] == [
        "Unverified", "Regular", "VIP-D", "VIP-C", "VIP-B", "VIP-A", "Top-VIP",
    ]  # fmt: skip
    assert [t.min_spend_cents for t in levels.tiers] == [
        0, 0, 20_000, 80_000, 150_000, 300_000, 500_000,
    ]  # fmt: skip
    assert [t.discount_bp for t in levels.tiers] == [0, 50, 100, 200, 300, 400, 500]
    assert [t.checkout for t in levels.tiers] == [False] + [True] * 6
    assert levels.tiers[1].requires == (Requirement("email_verified"),)
    assert all(t.min_points == 0 for t in levels.tiers)
    assert levels.tiers[0].perks == ()
    assert all(
        [p.code for p in t.perks] == ["level_discount", "checkout_points"] for t in levels.tiers[1:]
    )


def test_vip_shop_earning_and_checkout() -> None:
    program = load_program({"preset": "vip-shop"})
    e = program.earning
    assert program.point_value_cents == 100
    assert e.email_verified_points == 5
    assert (e.referee_points, e.referee_on) == (5, "email_verified")
    assert (e.referrer_points, e.referrer_on) == (5, "first_delivery")
    assert (e.review_points, e.review_percent_bp) == (0, 100)
    assert e.order_points_per_dollar == 0
    assert e.daily_purchase_points == 0 and e.daily_checkin_points == 0
    assert program.checkout.enabled
    assert program.checkout.caps == (
        CheckoutCap(0, 200),
        CheckoutCap(5_000, 300),
        CheckoutCap(10_000, 400),
        CheckoutCap(20_000, 500),
    )
    assert not program.coupons.enabled
    assert not program.coins.enabled


def test_default_preset_is_marketplace() -> None:
    assert load_program({}).preset == "marketplace"


# --- overrides ------------------------------------------------------------------------------


def test_override_merges_scalars_and_keeps_the_rest() -> None:
    program = load_program(
        {"preset": "marketplace", "timezone": "Asia/Shanghai", "coupons": {"daily_limit": 5}}
    )
    assert str(program.timezone) == "Asia/Shanghai"
    assert program.coupons.daily_limit == 5
    # Untouched keys of the same table keep the preset's values.
    assert program.coupons.validity_days == 30
    assert program.coupons.burn_month_day == (6, 30)
    assert len(program.coupons.options) == 3


def test_override_list_replaces_the_presets_list() -> None:
    program = load_program(
        {
            "preset": "marketplace",
            "coins": {"streak": [1, 2]},
            "coupons": {"options": [{"value_cents": 300, "points": 250}]},
        }
    )
    assert program.coins.streak == (1, 2)
    assert program.coupons.options == (CouponOption(300, 250, 0),)


def test_override_can_switch_off_the_burn_and_enable_coupons_on_vip() -> None:
    program = load_program(
        {
            "preset": "vip-shop",
            "coupons": {
                "enabled": True,
                "daily_limit": 1,
                "validity_days": 7,
                "options": [{"value_cents": 500, "points": 5}],
            },
        }
    )
    assert program.coupons.enabled
    assert program.coupons.burn_month_day is None
    assert program.coupons.option(500) == CouponOption(500, 5, 0)


def test_merge_is_deep_for_tables_and_whole_for_lists() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    assert merge(base, {"a": {"y": [3]}}) == {"a": {"x": 1, "y": [3]}, "b": 2}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 2}  # the preset is not mutated


# --- broken programmes ----------------------------------------------------------------------


def test_unknown_preset() -> None:
    found = problems_of({"preset": "supermarket"})
    assert list(found) == ["program.preset"]
    assert "supermarket" in found["program.preset"]


def test_every_problem_is_listed_with_its_key_path() -> None:
    tiers = tiers_of("marketplace")
    bad_tiers = [
        tiers[0],
        {**tiers[1], "code": "A0"},  # duplicate code
        tiers[2],
        {**tiers[3], "min_points": 50},  # below A2's 100: out of order
        tiers[4],
    ]
    found = problems_of(
        {
            "preset": "marketplace",
            "timezone": "Mars/Olympus",
            "point_value_cents": True,  # bool where an int is expected
            "levels": {"tiers": bad_tiers, "window_days": "365"},  # wrong type
            "coupons": {
                "burn_date": "02-30",
                "daily_limit": True,
                "options": [
                    {"value_cents": 500, "points": -500, "coins": 500},  # negative cost
                    {"value_cents": 1000, "points": 1000, "coins": 1000},
                ],
                "dayly_limit": 3,  # unknown key (typo)
            },
            "coins": {"enabled": True, "streak": []},
            "checkout": {
                "caps": [
                    {"from_cents": 0, "percent_bp": 200},
                    {"from_cents": 10_000, "percent_bp": 400},
                    {"from_cents": 5_000, "percent_bp": 300},  # out of order
                ]
            },
            "colour": "blue",  # unknown top-level key
        }
    )
    expected = {
        "program.timezone": "unknown time zone",
        "program.point_value_cents": "must be an integer",
        "program.levels.window_days": "must be an integer",
        "program.levels.tiers[1].code": "used twice",
        "program.levels.tiers[3]": "out of order",
        "program.coupons.burn_date": "02-30",
        "program.coupons.daily_limit": "must be an integer",
        "program.coupons.options[0].points": "between 0 and",
        "program.coupons.dayly_limit": "unknown key",
        "program.coins.streak": "streak schedule is empty",
        "program.checkout.caps[2].from_cents": "increasing order",
        "program.colour": "unknown key",
    }
    for path, fragment in expected.items():
        assert path in found, f"{path} not reported; got {sorted(found)}"
        assert fragment in found[path], (path, found[path])


def test_burn_date_that_does_not_exist_every_year() -> None:
    found = problems_of({"preset": "marketplace", "coupons": {"burn_date": "02-29"}})
    assert list(found) == ["program.coupons.burn_date"]
    found = problems_of({"preset": "marketplace", "coupons": {"burn_date": "02-30"}})
    assert list(found) == ["program.coupons.burn_date"]
    assert parse_month_day("02-28") == (2, 28)
    assert parse_month_day("12-31") == (12, 31)
    for raw in ("02-29", "02-30", "13-01", "6-30", "06/30", "0630", "", "aa-bb"):
        assert parse_month_day(raw) is None, raw


def test_bool_is_not_an_integer_and_int_is_not_a_bool() -> None:
    found = problems_of(
        {
            "preset": "marketplace",
            "coupons": {"validity_days": False, "enabled": 1},
            "earning": {"review_points": True},
        }
    )
    assert "must be an integer" in found["program.coupons.validity_days"]
    assert "true or false" in found["program.coupons.enabled"]
    assert "must be an integer" in found["program.earning.review_points"]


def test_wrong_types_for_tables_lists_and_strings() -> None:
    found = problems_of(
        {
            "preset": "marketplace",
            "coins": {"streak": [10, "ten", 0, True]},
            "coupons": {"options": "all of them"},
            "earning": 7,
            "name": 42,
        }
    )
    assert "positive integer" in found["program.coins.streak[1]"]
    assert "positive integer" in found["program.coins.streak[2]"]
    assert "positive integer" in found["program.coins.streak[3]"]
    assert "must be a list" in found["program.coupons.options"]
    assert "must be a table" in found["program.earning"]
    assert "must be a string" in found["program.name"]


def test_unknown_key_inside_a_level_and_a_wrong_basis_threshold() -> None:
    tiers = tiers_of("vip-shop")
    found = problems_of(
        {
            "preset": "vip-shop",
            "levels": {"tiers": [tiers[0], {**tiers[1], "min_points": 5, "discount": 50}]},
        }
    )
    assert "not used" in found["program.levels.tiers[1].min_points"]
    assert found["program.levels.tiers[1].discount"] == "unknown key"


def test_levels_must_climb_and_start_at_zero() -> None:
    found = problems_of(
        {
            "preset": "marketplace",
            "levels": {
                "tiers": [
                    {"code": "B0", "min_points": 10},
                    {"code": "B1", "min_points": 10},  # same threshold, no extra condition
                ]
            },
        }
    )
    assert "start at 0" in found["program.levels.tiers"]
    assert "out of order" in found["program.levels.tiers[1]"]
    found = problems_of({"preset": "marketplace", "levels": {"tiers": []}})
    assert "at least one level" in found["program.levels.tiers"]


def test_duplicate_coupon_values_and_enabled_without_options() -> None:
    found = problems_of(
        {
            "preset": "marketplace",
            "coupons": {
                "options": [
                    {"value_cents": 500, "points": 500},
                    {"value_cents": 500, "coins": 500},
                ]
            },
        }
    )
    assert "same value" in found["program.coupons.options"]
    found = problems_of({"preset": "marketplace", "coupons": {"options": []}})
    assert "no coupon is offered" in found["program.coupons.options"]
    found = problems_of({"preset": "marketplace", "coupons": {"daily_limit": 0}})
    assert "at least 1" in found["program.coupons.daily_limit"]


def test_checkout_caps_must_start_at_zero_and_enabled_needs_caps() -> None:
    found = problems_of(
        {"preset": "vip-shop", "checkout": {"caps": [{"from_cents": 100, "percent_bp": 200}]}}
    )
    assert "from_cents = 0" in found["program.checkout.caps[0].from_cents"]
    found = problems_of({"preset": "vip-shop", "checkout": {"caps": []}})
    assert "no cap" in found["program.checkout.caps"]
    found = problems_of(
        {"preset": "vip-shop", "checkout": {"caps": [{"from_cents": 0, "percent_bp": 10_001}]}}
    )
    assert "between 0 and 10000" in found["program.checkout.caps[0].percent_bp"]


def test_unknown_requirement_and_perk_without_code() -> None:
    tiers = tiers_of("marketplace")
    found = problems_of(
        {
            "preset": "marketplace",
            "levels": {
                "tiers": [
                    {**tiers[0], "perks": [{"text": "no code"}]},
                    {**tiers[1], "requires": ["delivered_order_over:two dollars"]},
                    *tiers[2:],
                ]
            },
        }
    )
    assert "needs a code" in found["program.levels.tiers[0].perks[0]"]
    assert "unknown requirement" in found["program.levels.tiers[1].requires[0]"]

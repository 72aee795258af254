"""Build a Program from a preset plus `[program]` overrides, reporting every problem."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from importlib import resources
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loyalty.program import (
    Checkout,
    CheckoutCap,
    Coins,
    CouponOption,
    Coupons,
    Earning,
    Levels,
    Perk,
    Program,
    Requirement,
    Tier,
)

PRESETS = ("marketplace", "vip-shop")
# Upper bound for any configured amount: large enough for any real programme, small enough
# that sums over a member's lifetime stay far inside SQLite's 64-bit integers.
MAX_AMOUNT = 1_000_000_000
T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a programme, at its key path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ProgramInvalid(ValueError):
    """The programme configuration has one or more problems; all of them are listed."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def preset_table(name: str) -> dict[str, Any]:
    """Return the raw TOML table of a shipped preset."""
    if name not in PRESETS:
        raise KeyError(name)
    text = resources.files("loyalty.presets").joinpath(f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge tables; an override's scalar or list replaces the base's value whole."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_program(table: Mapping[str, Any], path: str = "program") -> Program:
    """Validate a `[program]` table (preset + overrides) and return the Program or raise."""
    problems: list[Problem] = []
    preset = table.get("preset", "marketplace")
    if preset not in PRESETS:
        problems.append(
            Problem(f"{path}.preset", f"unknown preset {preset!r}; choose one of {PRESETS}")
        )
        raise ProgramInvalid(problems)
    merged = merge(preset_table(preset), {k: v for k, v in table.items() if k != "preset"})
    reader = TableReader(merged, path, problems)
    program = _read_program(reader, preset)
    if problems:
        raise ProgramInvalid(problems)
    assert program is not None
    return program


class TableReader:
    """Reads typed values from one table, recording a Problem for each bad or unknown key."""

    def __init__(self, table: Any, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        self.seen: set[str] = set()
        if isinstance(table, Mapping):
            self.table: Mapping[str, Any] = table
        else:
            self.table = {}
            self.fail("must be a table")

    def fail(self, message: str, key: str | None = None) -> None:
        """Record a problem at this table or one of its keys."""
        self.problems.append(Problem(self.at(key) if key else self.path, message))

    def failed(self, key: str) -> bool:
        """Tell whether a problem was already recorded for `key` (to avoid reporting it twice)."""
        return any(p.path == self.at(key) for p in self.problems)

    def at(self, key: str | int) -> str:
        """Return the key path of `key` inside this table (or list index)."""
        return f"{self.path}[{key}]" if isinstance(key, int) else f"{self.path}.{key}"

    def _get(self, key: str, kind: type[T] | tuple[type, ...], default: T, what: str) -> T:
        self.seen.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        # bool is an int in Python; a TOML `true` must not pass as a number.
        if isinstance(value, kind) and not (isinstance(value, bool) and kind is int):
            return cast(T, value)
        self.fail(f"must be {what}, got {value!r}", key)
        return default

    def integer(self, key: str, default: int = 0, low: int = 0, high: int = MAX_AMOUNT) -> int:
        """Read an integer within [low, high]."""
        value = self._get(key, int, default, "an integer")
        if not low <= value <= high:
            self.fail(f"must be between {low} and {high}, got {value}", key)
            return default
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        """Read a boolean."""
        return self._get(key, bool, default, "true or false")

    def text(self, key: str, default: str = "", choices: tuple[str, ...] = ()) -> str:
        """Read a string, optionally one of `choices`."""
        value = self._get(key, str, default, "a string")
        if choices and value not in choices:
            self.fail(f"must be one of {', '.join(choices)}, got {value!r}", key)
            return default
        return value

    def time_of_day(self, key: str, default: str) -> time:
        """Read a wall-clock time written "HH:MM"."""
        raw = self.text(key, default)
        try:
            return time.fromisoformat(raw) if len(raw) == 5 else time.fromisoformat("x")
        except ValueError:
            self.fail(f"must be a time like 09:30, got {raw!r}", key)
            return time.fromisoformat(default)

    def integers(
        self, key: str, default: list[int], low: int = 0, high: int = MAX_AMOUNT
    ) -> list[int]:
        """Read a list of integers within [low, high]."""
        values = self._get(key, list, default, "a list of integers")
        good = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        if len(good) != len(values) or any(not low <= v <= high for v in good):
            self.fail(f"must be a list of integers between {low} and {high}", key)
            return default
        return good

    def items(self, key: str) -> list[Any]:
        """Read a list (of anything; the caller checks the items)."""
        return self._get(key, list, [], "a list")

    def table_reader(self, key: str) -> TableReader:
        """Return a reader for the sub-table `key` (empty when absent)."""
        self.seen.add(key)
        return TableReader(self.table.get(key, {}), self.at(key), self.problems)

    def list_readers(self, key: str) -> list[TableReader]:
        """Return a reader for each table in the list `key`."""
        return [
            TableReader(item, f"{self.at(key)}[{i}]", self.problems)
            for i, item in enumerate(self.items(key))
        ]

    def done(self) -> None:
        """Report keys that were present but never read: almost always a typo."""
        for key in self.table:
            if key not in self.seen:
                self.fail("unknown key", key)


def _read_program(r: TableReader, preset: str) -> Program | None:
    r.seen.add("preset")
    name = r.text("name", preset)
    currency = r.text("currency", "USD")
    tz_name = r.text("timezone", "UTC")
    timezone = ZoneInfo("UTC")
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        r.fail(f"unknown time zone {tz_name!r}", "timezone")
    point_value = r.integer("point_value_cents", 1, low=1, high=1_000_000)
    levels = _read_levels(r.table_reader("levels"))
    earning = _read_earning(r.table_reader("earning"))
    coupons = _read_coupons(r.table_reader("coupons"))
    coins = _read_coins(r.table_reader("coins"))
    checkout = _read_checkout(r.table_reader("checkout"))
    r.done()
    return Program(
        preset=preset,
        name=name,
        timezone=timezone,
        currency=currency,
        point_value_cents=point_value,
        levels=levels,
        earning=earning,
        coupons=coupons,
        coins=coins,
        checkout=checkout,
    )


def _read_requirement(raw: Any, path: str, problems: list[Problem]) -> Requirement | None:
    if raw == "email_verified":
        return Requirement("email_verified")
    if isinstance(raw, str) and raw.startswith("delivered_order_over:"):
        cents = raw.partition(":")[2]
        if cents.isdigit() and int(cents) <= MAX_AMOUNT:
            return Requirement("delivered_order_over", int(cents))
    problems.append(
        Problem(
            path, f"unknown requirement {raw!r}; use email_verified or delivered_order_over:CENTS"
        )
    )
    return None


def _read_perks(r: TableReader) -> tuple[Perk, ...]:
    perks = []
    for pr in r.list_readers("perks"):
        code = pr.text("code")
        if not code:
            pr.fail("a perk needs a code")
        pr.seen.add("text")
        raw = pr.table.get("text")
        texts: dict[str, str] = {}
        if isinstance(raw, str) and raw:
            texts = {"en": raw}
        elif (
            isinstance(raw, Mapping)
            and raw
            and all(isinstance(k, str) and isinstance(v, str) and v for k, v in raw.items())
        ):
            texts = dict(raw)
        else:
            pr.fail("must be a text or a table of language = text", "text")
        pr.done()
        perks.append(Perk(code=code, text=texts))
    return tuple(perks)


def _read_tier(r: TableReader, basis: str) -> Tier:
    code = r.text("code")
    if not code:
        r.fail("a level needs a code")
    name = r.text("name", code)
    # Only the threshold of the configured basis is meaningful; the other one is a mistake.
    wanted, unwanted = (
        ("min_points", "min_spend_cents")
        if basis == "points"
        else ("min_spend_cents", "min_points")
    )
    if unwanted in r.table:
        r.seen.add(unwanted)
        r.fail(f"not used when levels.basis = {basis!r}; use {wanted}", unwanted)
    threshold = r.integer(wanted)
    requires = []
    for i, raw in enumerate(r.items("requires")):
        requirement = _read_requirement(raw, f"{r.at('requires')}[{i}]", r.problems)
        if requirement:
            requires.append(requirement)
    tier = Tier(
        code=code,
        name=name,
        min_points=threshold if basis == "points" else 0,
        min_spend_cents=threshold if basis == "spend" else 0,
        requires=tuple(requires),
        discount_bp=r.integer("discount_bp", 0, high=10_000),
        checkout=r.boolean("checkout", False),
        perks=_read_perks(r),
    )
    r.done()
    return tier


def _threshold(tier: Tier) -> int:
    return max(tier.min_points, tier.min_spend_cents)


def _read_levels(r: TableReader) -> Levels:
    basis = r.text("basis", "points", choices=("points", "spend"))
    window = r.integer("window_days", 0, high=36_500)
    tiers = tuple(_read_tier(tr, basis) for tr in r.list_readers("tiers"))
    if not tiers:
        r.fail("at least one level is needed", "tiers")
    elif _threshold(tiers[0]) != 0:
        r.fail("the first level must start at 0 so every member has a level", "tiers")
    codes = [t.code for t in tiers]
    for i, tier in enumerate(tiers):
        if codes.count(tier.code) > 1 and codes.index(tier.code) != i:
            r.fail(f"level code {tier.code!r} is used twice", f"tiers[{i}].code")
        if i == 0:
            continue
        below = tiers[i - 1]
        # A ladder climbs: each level needs more than the one below, or the same plus a condition.
        if _threshold(tier) < _threshold(below) or (
            _threshold(tier) == _threshold(below) and not tier.requires
        ):
            r.fail(
                f"levels out of order: {tier.code!r} must need more than {below.code!r} below it",
                f"tiers[{i}]",
            )
    r.done()
    return Levels(basis=cast(Any, basis), window_days=window, tiers=tiers)


def _read_earning(r: TableReader) -> Earning:
    earning = Earning(
        order_points_per_dollar=r.integer("order_points_per_dollar", high=1_000),
        order_min_cents=r.integer("order_min_cents"),
        review_points=r.integer("review_points"),
        review_percent_bp=r.integer("review_percent_bp", high=10_000),
        daily_purchase_points=r.integer("daily_purchase_points"),
        daily_checkin_points=r.integer("daily_checkin_points"),
        email_verified_points=r.integer("email_verified_points"),
        referrer_points=r.integer("referrer_points"),
        referrer_on=cast(
            Any, r.text("referrer_on", "registered", choices=("registered", "first_delivery"))
        ),
        referee_points=r.integer("referee_points"),
        referee_on=cast(
            Any, r.text("referee_on", "email_verified", choices=("registered", "email_verified"))
        ),
    )
    r.done()
    return earning


def parse_month_day(raw: str) -> tuple[int, int] | None:
    """Parse 'MM-DD' into (month, day) if that date exists every year (so not 02-29)."""
    month, sep, day = raw.partition("-")
    if not (sep and month.isdigit() and day.isdigit() and len(month) == 2 and len(day) == 2):
        return None
    try:
        date(2001, int(month), int(day))  # 2001 is not a leap year
    except ValueError:
        return None
    return int(month), int(day)


def _read_coupons(r: TableReader) -> Coupons:
    enabled = r.boolean("enabled", False)
    daily_limit = r.integer("daily_limit", 0, high=1_000)
    validity = r.integer("validity_days", 0, high=3_650)
    burn_raw = r.text("burn_date", "")
    burn = None
    if burn_raw:
        burn = parse_month_day(burn_raw)
        if burn is None:
            r.fail(f"{burn_raw!r} is not a date that exists every year (MM-DD)", "burn_date")
    options = []
    for orr in r.list_readers("options"):
        option = CouponOption(
            value_cents=orr.integer("value_cents", 0, low=1),
            points=orr.integer("points"),
            coins=orr.integer("coins"),
        )
        if option.points == 0 and option.coins == 0:
            orr.fail("a coupon must cost points, coins or both")
        orr.done()
        options.append(option)
    values = [o.value_cents for o in options]
    if len(set(values)) != len(values):
        r.fail("two coupons have the same value", "options")
    if enabled:
        if not options:
            r.fail("coupons are enabled but no coupon is offered", "options")
        if daily_limit < 1 and not r.failed("daily_limit"):
            r.fail("must be at least 1 when coupons are enabled", "daily_limit")
        if validity < 1 and not r.failed("validity_days"):
            r.fail("must be at least 1 when coupons are enabled", "validity_days")
    r.done()
    return Coupons(
        enabled=enabled,
        daily_limit=daily_limit,
        validity_days=validity,
        burn_month_day=burn,
        options=tuple(sorted(options, key=lambda o: o.value_cents)),
    )


def _read_coins(r: TableReader) -> Coins:
    enabled = r.boolean("enabled", False)
    streak: list[int] = []
    for i, raw in enumerate(r.items("streak")):
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 < raw <= 1_000_000:
            streak.append(raw)
        else:
            r.fail(f"must be a positive integer, got {raw!r}", f"streak[{i}]")
    if enabled and not streak:
        r.fail("coins are enabled but the streak schedule is empty", "streak")
    r.done()
    return Coins(enabled=enabled, streak=tuple(streak))


def _read_checkout(r: TableReader) -> Checkout:
    enabled = r.boolean("enabled", False)
    caps = []
    for cr in r.list_readers("caps"):
        caps.append(
            CheckoutCap(
                from_cents=cr.integer("from_cents"),
                percent_bp=cr.integer("percent_bp", high=10_000),
            )
        )
        cr.done()
    if caps and caps[0].from_cents != 0:
        r.fail("the first cap must start at from_cents = 0", "caps[0].from_cents")
    for i in range(1, len(caps)):
        if caps[i].from_cents <= caps[i - 1].from_cents:
            r.fail("caps must be in increasing order of from_cents", f"caps[{i}].from_cents")
    if enabled and not caps:
        r.fail("checkout is enabled but no cap is set", "caps")
    r.done()
    return Checkout(enabled=enabled, caps=tuple(caps))

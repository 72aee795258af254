"""The programme model: levels, earning, coupons, coins and checkout, as immutable data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo

LevelBasis = Literal["points", "spend"]
ReferrerTrigger = Literal["registered", "first_delivery"]
RefereeTrigger = Literal["registered", "email_verified"]
Currency = Literal["points", "coins"]

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Perk:
    """A level benefit: a machine code the shop can query and display text per language."""

    code: str
    text: Mapping[str, str]

    def text_for(self, language: str) -> str:
        """Return the perk's text in `language`, falling back to English, then any language."""
        return (
            self.text.get(language)
            or self.text.get(DEFAULT_LANGUAGE)
            or next(iter(self.text.values()), self.code)
        )


@dataclass(frozen=True)
class Requirement:
    """A condition a member must meet for a level (and every level above it)."""

    kind: Literal["email_verified", "delivered_order_over"]
    cents: int = 0

    def __str__(self) -> str:
        return self.kind if self.kind == "email_verified" else f"{self.kind}:{self.cents}"


@dataclass(frozen=True)
class Tier:
    """One membership level and what it takes and gives."""

    code: str
    name: str
    min_points: int = 0
    min_spend_cents: int = 0
    requires: tuple[Requirement, ...] = ()
    discount_bp: int = 0
    checkout: bool = False
    perks: tuple[Perk, ...] = ()


@dataclass(frozen=True)
class Levels:
    """The level ladder, lowest first, and what it is measured by."""

    basis: LevelBasis
    window_days: int
    tiers: tuple[Tier, ...]

    def by_code(self, code: str) -> Tier | None:
        """Return the tier with `code`, or None."""
        return next((t for t in self.tiers if t.code == code), None)


@dataclass(frozen=True)
class Earning:
    """How many points each kind of activity earns."""

    order_points_per_dollar: int = 0
    order_min_cents: int = 0
    review_points: int = 0
    review_percent_bp: int = 0
    daily_purchase_points: int = 0
    daily_checkin_points: int = 0
    email_verified_points: int = 0
    referrer_points: int = 0
    referrer_on: ReferrerTrigger = "registered"
    referee_points: int = 0
    referee_on: RefereeTrigger = "email_verified"


@dataclass(frozen=True)
class CouponOption:
    """A coupon value and its price in points and in coins (0 = not sold for that currency)."""

    value_cents: int
    points: int
    coins: int

    def cost(self, currency: Currency) -> int:
        """Return the price in `currency` (0 when this coupon is not sold for it)."""
        return self.points if currency == "points" else self.coins


@dataclass(frozen=True)
class Coupons:
    """Coupon exchange: what is sold, how many a day, how long coupons live, the yearly burn."""

    enabled: bool = False
    daily_limit: int = 0
    validity_days: int = 0
    burn_month_day: tuple[int, int] | None = None
    options: tuple[CouponOption, ...] = ()

    def option(self, value_cents: int) -> CouponOption | None:
        """Return the option worth `value_cents`, or None."""
        return next((o for o in self.options if o.value_cents == value_cents), None)


@dataclass(frozen=True)
class Coins:
    """Daily coins: the amount for each day of a streak; the last amount repeats."""

    enabled: bool = False
    streak: tuple[int, ...] = ()


@dataclass(frozen=True)
class CheckoutCap:
    """From this order amount on, points may pay up to `percent_bp` basis points of it."""

    from_cents: int
    percent_bp: int


@dataclass(frozen=True)
class Checkout:
    """Paying part of an order with points."""

    enabled: bool = False
    caps: tuple[CheckoutCap, ...] = ()


@dataclass(frozen=True)
class Program:
    """A whole loyalty programme, validated and ready for the rule functions."""

    preset: str
    name: str
    timezone: ZoneInfo
    currency: str
    point_value_cents: int
    levels: Levels
    earning: Earning
    coupons: Coupons = field(default_factory=Coupons)
    coins: Coins = field(default_factory=Coins)
    checkout: Checkout = field(default_factory=Checkout)

"""Amounts, numbers and dates formatted for a member's locale (Babel)."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import format_currency, format_decimal, format_percent, get_group_symbol

LOCALES = {"en": "en_US", "ru": "ru_RU"}
# Every formatter is a pure function of its arguments, and Babel is slow (40-80 us a call on
# a small server, a /me formats about ten values): results are kept. The same values recur
# across members and updates: coupon prices, today's reset time, small balances and counts.
CACHED = 4096


def locale_for(language: str) -> str:
    """Return the Babel locale used for a member language."""
    return LOCALES.get(language, "en_US")


@lru_cache(maxsize=16)
def locale(language: str) -> Locale:
    """Return the Babel Locale for a member language (parsed once; Babel parses names anew)."""
    return Locale.parse(locale_for(language))


@lru_cache(maxsize=CACHED)
def money(cents: int, currency: str, language: str) -> str:
    """Format integer cents as money: "$5.00" in English, "5,00 $" in Russian."""
    # Decimal from integer cents: exact, never a float.
    return format_currency(Decimal(cents).scaleb(-2), currency, locale=locale(language))


# Babel's plain decimal pattern: groups of three, no minimum grouping of its own.
THREE_DIGIT_GROUPS = "#,##0.###"


@lru_cache(maxsize=16)
def group_separator(language: str) -> str | None:
    """Return the locale's digit group separator when it groups plainly by three, else None."""
    found = locale(language)
    pattern = found.decimal_formats.get(None)
    if pattern is None or pattern.pattern != THREE_DIGIT_GROUPS:
        return None
    return get_group_symbol(found)


def number(value: int, language: str) -> str:
    """Format an integer with the locale's grouping: "1,240" / "1 240"."""
    # Babel takes ~20 us a number; where the locale groups plainly by three (en and ru),
    # Python's own grouping with the locale's separator is the same text in ~0.5 us
    # (tests/bot/test_formatting.py compares them), and amounts rarely recur enough to cache.
    separator = group_separator(language)
    if separator is None:
        return format_decimal(value, locale=locale(language))
    return f"{value:,}".replace(",", separator)


@lru_cache(maxsize=CACHED)
def day(value: date, language: str) -> str:
    """Format a date like `moment` does, without the time: "30 Jun 2027" / "30 июн. 2027 г."."""
    return format_date(value, format="d MMM y", locale=locale(language))


def moment(value: datetime, zone: tzinfo, language: str) -> str:
    """Format an instant in the programme's time zone: date and time, no seconds."""
    # Babel's "d MMM y, HH:mm" is `day`'s "d MMM y", a comma and the 24-hour clock in ASCII
    # digits in both languages: instants are nearly all different (a history page has ten),
    # days are not, so the day comes from `day`'s cache and the clock is formatted here.
    local = value.astimezone(zone)
    return f"{day(local.date(), language)}, {local.hour:02d}:{local.minute:02d}"


@lru_cache(maxsize=CACHED)
def percent(basis_points: int, language: str) -> str:
    """Format basis points as a percentage: 50 -> "0.5%" / "0,5%", 500 -> "5%"."""
    return format_percent(
        Decimal(basis_points).scaleb(-4), format="#,##0.##%", locale=locale(language)
    )


@lru_cache(maxsize=CACHED)
def month_day(month: int, day_of_month: int, language: str) -> str:
    """Format a yearly date without a year: "June 30" / "30 июня"."""
    # A leap year, so that 29 February is a valid yearly date too.
    return format_skeleton("MMMMd", date(2000, month, day_of_month), locale=locale(language))


def clock_time(minute_of_day: int) -> str:
    """Format minutes after midnight as a 24-hour time, "07:30" (as `moment` shows times)."""
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"

"""Amounts, numbers and dates formatted for a member's locale (Babel)."""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal

LOCALES = {"en": "en_US", "ru": "ru_RU"}


def locale_for(language: str) -> str:
    """Return the Babel locale used for a member language."""
    return LOCALES.get(language, "en_US")


def money(cents: int, currency: str, language: str) -> str:
    """Format integer cents as money: "$5.00" in English, "5,00 $" in Russian."""
    # Decimal from integer cents: exact, never a float.
    return format_currency(Decimal(cents).scaleb(-2), currency, locale=locale_for(language))


def number(value: int, language: str) -> str:
    """Format an integer with the locale's grouping: "1,240" / "1 240"."""
    return format_decimal(value, locale=locale_for(language))


def day(value: date, language: str) -> str:
    """Format a date in the locale's medium style: "Jun 30, 2027" / "30 июн. 2027 г."."""
    return format_date(value, format="medium", locale=locale_for(language))


def moment(value: datetime, zone: tzinfo, language: str) -> str:
    """Format an instant in the programme's time zone: date and time, no seconds."""
    return format_datetime(
        value.astimezone(zone), format="d MMM y, HH:mm", tzinfo=zone, locale=locale_for(language)
    )


def clock_time(minute_of_day: int) -> str:
    """Format minutes after midnight as a 24-hour time, "07:30" (as `moment` shows times)."""
    return f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"

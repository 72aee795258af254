"""Numbers formatted for a member's locale: the fast grouping says what Babel says."""

from __future__ import annotations

import random

import pytest
from babel.numbers import format_decimal

from handlers.formatting import LOCALES, group_separator, locale, number


@pytest.mark.parametrize("language", sorted(LOCALES))
def test_numbers_are_grouped_exactly_as_babel_groups_them(language: str) -> None:
    pick = random.Random(7)
    values = [*range(-1_100, 1_100), *range(9_990, 10_010), -1_234_567, 10**15]
    values += [pick.randrange(-(10**12), 10**12) for _ in range(2_000)]
    for value in values:
        assert number(value, language) == format_decimal(value, locale=locale(language)), value
    assert group_separator(language) is not None  # the fast path is the one taken

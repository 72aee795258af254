"""The text catalogue: every key in every language, with the same placeholders, valid HTML."""

from __future__ import annotations

import re

import pytest

from handlers.catalogue import LANGUAGES, Catalogue, Html, placeholders, plural_categories
from telegram_emulator.html import parse_html

CATALOGUE = Catalogue.load()
ENTRIES = list(CATALOGUE)


def forms(entry) -> dict[str, list[str]]:
    """Every template of an entry, per language (plural forms flattened)."""
    out = {}
    for language, text in entry.texts.items():
        out[language] = list(text.values()) if isinstance(text, dict) else [text]
    return out


def test_catalogue_is_not_empty() -> None:
    assert len(ENTRIES) > 50


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.key)
def test_every_key_in_every_language_with_the_same_placeholders(entry) -> None:
    assert set(entry.texts) == set(LANGUAGES), f"{entry.key}: languages {set(entry.texts)}"
    by_language = forms(entry)
    expected = placeholders(by_language["en"][0])
    for language, templates in by_language.items():
        for template in templates:
            assert template.strip(), f"{entry.key}/{language} is empty"
            assert placeholders(template) == expected, f"{entry.key}/{language}: {template!r}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.key)
def test_plural_entries_have_every_category(entry) -> None:
    for language, text in entry.texts.items():
        if isinstance(text, dict):
            assert plural_categories(language) <= set(text), f"{entry.key}/{language}"


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.key)
def test_templates_are_valid_telegram_html(entry) -> None:
    for templates in forms(entry).values():
        for template in templates:
            filled = re.sub(r"\{[a-z_]+\}", "x", template)
            parse_html(filled)  # raises on a tag Telegram would refuse


def test_values_are_escaped_but_html_is_not() -> None:
    text = CATALOGUE.text("me.title", "en", name="<b>Eve</b> & co")
    assert "&lt;b&gt;Eve&lt;/b&gt; &amp; co" in text
    assert CATALOGUE.text("me.title", "en", name=Html("<i>x</i>")).count("<i>x</i>") == 1


def test_plural_forms() -> None:
    assert CATALOGUE.plural("coupons.points", 1, "en") == "1 point"
    assert CATALOGUE.plural("coupons.points", 2_000, "en") == "2,000 points"
    assert [CATALOGUE.plural("coupons.points", n, "ru") for n in (1, 3, 5, 21, 111)] == [
        "1 балл", "3 балла", "5 баллов", "21 балл", "111 баллов"
    ]  # fmt: skip


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.key)
def test_english_reads_right_whatever_the_value(entry) -> None:
    for template in forms(entry)["en"]:
        # "a {shop} account" reads "a Our shop account": the shop's name is a proper noun.
        assert not re.search(r"\b(a|an) \{shop\}", template), f"{entry.key}: {template!r}"
        # "...: {reason}" after a sentence glues an agent's free text to it ("account: sorry");
        # a reason gets its own line, or parentheses.
        assert not re.search(r"(?<!Reason): \{(reason|note)\}|\. \{(reason|note)\}", template), (
            f"{entry.key}: {template!r}"
        )

"""The text catalogue: every user-facing string by key, per language, with safe placeholders.

Texts live in `handlers/texts/<feature>.toml`; a key `title` in `me.toml` is `me.title`.
A text is either a string per language or, for counted things, a table of plural forms
(CLDR categories: English `one`/`other`, Russian `one`/`few`/`many`/`other`). Texts are
Telegram HTML; placeholder values are escaped unless they are `Html` already.
"""

from __future__ import annotations

import html
import string
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from handlers.formatting import locale, number

LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"


class Html(str):
    """A string that is already safe Telegram HTML (not escaped again)."""

    __slots__ = ()


def choose_language(chosen: str | None, telegram: str | None, default: str) -> str:
    """Return the user's chosen language, else Telegram's if supported, else the default."""
    if chosen is not None and chosen in LANGUAGES:
        return chosen
    code = (telegram or "")[:2].lower()
    return code if code in LANGUAGES else default


def escape(value: object) -> Html:
    """Return `value` as safe HTML: `Html` unchanged, anything else escaped."""
    return value if isinstance(value, Html) else Html(html.escape(str(value), quote=False))


def _escaped(values: dict[str, Any]) -> dict[str, str]:
    """Return placeholder values as safe HTML (`escape` inlined: a screen formats hundreds)."""
    return {
        k: v if isinstance(v, Html) else html.escape(str(v), quote=False) for k, v in values.items()
    }


def duration(texts: Catalogue, minutes: int, language: str) -> Html:
    """Render whole minutes as days, hours and minutes ("2 hours 10 minutes"), zeros left out."""
    days, rest = divmod(max(0, minutes), 24 * 60)
    hours, minutes = divmod(rest, 60)
    counts = (("days", days), ("hours", hours), ("minutes", minutes))
    parts = [texts.plural(f"units.{unit}", n, language) for unit, n in counts if n]
    return join(parts or [texts.plural("units.minutes", 0, language)], " ")


def join(parts: list[Html], separator: str = "\n") -> Html:
    """Join already-safe HTML pieces."""
    return Html(separator.join(parts))


def placeholders(template: str) -> set[str]:
    """Return the placeholder names used in a template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass(frozen=True)
class Entry:
    """One key: a template per language, or plural forms per language."""

    key: str
    texts: Mapping[str, str | Mapping[str, str]]


class Catalogue:
    """All texts, loaded once; look them up by key and language."""

    def __init__(self, entries: dict[str, Entry]) -> None:
        self._entries = entries
        # Texts without placeholder values (button labels, titles) are formatted once.
        self._plain: dict[tuple[str, str], Html] = {}

    @classmethod
    def load(cls) -> Catalogue:
        """Load every `handlers/texts/*.toml` file."""
        entries: dict[str, Entry] = {}
        for item in sorted(resources.files("handlers.texts").iterdir(), key=lambda i: i.name):
            if not item.name.endswith(".toml"):
                continue
            feature = item.name.removesuffix(".toml")
            for key, texts in tomllib.loads(item.read_text("utf-8")).items():
                entries[f"{feature}.{key}"] = Entry(f"{feature}.{key}", texts)
        return cls(entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries.values())

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def _template(self, key: str, language: str) -> str | Mapping[str, str]:
        texts = self._entries[key].texts
        return texts.get(language) or texts[DEFAULT_LANGUAGE]

    def template(self, key: str, language: str) -> str:
        """Return the raw template of `key`, for a caller that formats it many times over
        (the caller escapes every value with `escape`)."""
        template = self._template(key, language)
        if not isinstance(template, str):
            raise TypeError(f"{key} has plural forms")
        return template

    def text(self, key: str, language: str, **values: Any) -> Html:
        """Return the text for `key` in `language` with escaped placeholder values."""
        if not values:
            plain = self._plain.get((key, language))
            if plain is not None:
                return plain
        template = self._template(key, language)
        if not isinstance(template, str):
            raise TypeError(f"{key} has plural forms: use plural()")
        text = Html(template.format(**_escaped(values)))
        if not values:
            self._plain[key, language] = text
        return text

    def plural(self, key: str, count: int, language: str, **values: Any) -> Html:
        """Return the plural form of `key` for `count`; `{n}` is the count formatted."""
        forms = self._template(key, language)
        if isinstance(forms, str):
            raise TypeError(f"{key} has no plural forms: use text()")
        category = plural_category(language, count)
        template = forms.get(category) or forms["other"]
        if "n" not in values:  # not setdefault: that would format the count every time
            values["n"] = number(count, language)
        return Html(template.format(**_escaped(values)))


@lru_cache(maxsize=4096)
def plural_category(language: str, count: int) -> str:
    """Return the CLDR plural category of `count` ("one", "few", ...); Babel's rule takes
    ~14 us an evaluation, and counts recur."""
    return locale(language).plural_form(abs(count))


def plural_categories(language: str) -> set[str]:
    """Return the CLDR plural categories a language needs for integers."""
    rules = locale(language)
    return {rules.plural_form(n) for n in range(0, 200)}

"""Text helpers: UTF-16 lengths, bot command entities and Telegram's whitespace trimming."""

from __future__ import annotations

import re
from typing import Any

# Telegram's rule for a bot command: "/" not preceded by a word character or "/<>", 1-64
# letters/digits/underscores, an optional "@botname" of 3-32, and no word character or "/<>@"
# right after. A too-short "@bo" suffix makes the whole thing not a command, as in tdlib.
_COMMAND = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>@])")


def utf16_len(text: str) -> int:
    """Return the length of ``text`` in UTF-16 code units, the unit of entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def bot_command_entities(text: str) -> list[dict[str, Any]]:
    """Return the ``bot_command`` entities Telegram would attach to a user's ``text``."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_len(text[: match.start()]),
            "length": utf16_len(match.group()),
        }
        for match in _COMMAND.finditer(text)
    ]


def trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip leading/trailing whitespace like Telegram does, moving entities to match."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    end = utf16_len(stripped)
    kept = []
    for entity in entities:
        start = max(0, entity["offset"] - shift)
        stop = min(end, entity["offset"] + entity["length"] - shift)
        if stop > start:
            kept.append({**entity, "offset": start, "length": stop - start})
    return stripped, kept

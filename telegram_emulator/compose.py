"""Turn a method's text parameters into what Telegram stores: visible text and entities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram_emulator import errors
from telegram_emulator.errors import bad_request
from telegram_emulator.html import EntityParseError, parse_html
from telegram_emulator.params import Params
from telegram_emulator.text import trim

MAX_TEXT = 4096
MAX_CAPTION = 1024
_PARSE_MODES = {"html": "HTML", "markdown": "Markdown", "markdownv2": "MarkdownV2"}


@dataclass(frozen=True)
class Content:
    """Visible text, its entities, and the raw HTML source if it was sent as HTML."""

    text: str
    entities: list[dict[str, Any]]
    html: str | None
    parse_mode: str | None


def compose(
    params: Params, *, text_field: str, entities_field: str, caption: bool = False
) -> Content:
    """Parse ``text_field`` with parse_mode or explicit entities and check Telegram's limits.

    Markdown parse modes are stored verbatim (no entities): the product sends HTML only.
    """
    source = params.string(text_field) or ""
    mode_raw = params.string("parse_mode")
    mode = None
    if mode_raw:
        mode = _PARSE_MODES.get(mode_raw.lower())
        if mode is None:
            raise bad_request("Bad Request: unsupported parse_mode")
    html = None
    if mode == "HTML":
        try:
            text, entities = parse_html(source)
        except EntityParseError as exc:
            raise bad_request(errors.CANT_PARSE_ENTITIES.format(exc)) from None
        html = source
    else:
        text = source
        given = params.json_value(entities_field)
        entities = [dict(e) for e in given] if isinstance(given, list) else []
    text, entities = trim(text, entities)
    if caption:
        if len(text) > MAX_CAPTION:
            raise bad_request(errors.CAPTION_TOO_LONG)
    else:
        if not text:
            raise bad_request(errors.TEXT_EMPTY)
        if len(text) > MAX_TEXT:
            raise bad_request(errors.TEXT_TOO_LONG)
    return Content(text=text, entities=entities, html=html, parse_mode=mode)

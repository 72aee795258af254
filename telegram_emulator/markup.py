"""Reply markup validation, with the checks and error strings of the Bot API."""

from __future__ import annotations

from typing import Any

from telegram_emulator import errors
from telegram_emulator.errors import ApiError, bad_request

MAX_INLINE_BUTTONS = 100
MAX_CALLBACK_DATA_BYTES = 64
# Any one of these turns a label into a working inline button; a label alone is refused.
_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_URL_SCHEMES = ("http://", "https://", "tg://", "ton://")


def validate_markup(markup: object, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Return the markup as stored, or raise the ApiError Telegram answers for it."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request(errors.CANT_PARSE_MARKUP)
    if "inline_keyboard" in markup:
        return {"inline_keyboard": _inline_keyboard(markup["inline_keyboard"])}
    if inline_only:
        raise bad_request(errors.INLINE_KEYBOARD_EXPECTED)
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(errors.REPLY_KEYBOARD_NOT_ARRAYS)
        return dict(markup)
    if markup.get("remove_keyboard") or markup.get("force_reply"):
        return dict(markup)
    raise bad_request(errors.CANT_PARSE_MARKUP)


def _inline_keyboard(rows: object) -> list[list[dict[str, Any]]]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(errors.INLINE_KEYBOARD_NOT_ARRAYS)
    if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
        raise bad_request(errors.REPLY_MARKUP_TOO_LONG)
    return [[_inline_button(button) for button in row] for row in rows]


def _inline_button(button: object) -> dict[str, Any]:
    if not isinstance(button, dict):
        raise _button_error("InlineKeyboardButton must be an Object")
    if "text" not in button:
        raise _button_error('Can\'t find field "text"')
    if not isinstance(button["text"], str):
        raise _button_error('Field "text" must be of type String')
    if not any(button.get(action) is not None for action in _ACTIONS):
        raise _button_error("Text buttons are unallowed in the inline keyboard")
    data = button.get("callback_data")
    if data is not None:
        if not isinstance(data, str):
            raise _button_error('Field "callback_data" must be of type String')
        if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request(errors.BUTTON_DATA_INVALID)
    url = button.get("url")
    if url is not None and not (isinstance(url, str) and url.startswith(_URL_SCHEMES)):
        raise bad_request(errors.BUTTON_URL_INVALID)
    return dict(button)


def _button_error(reason: str) -> ApiError:
    return bad_request(errors.CANT_PARSE_BUTTON.format(reason))


def inline_keyboard(markup: dict[str, Any] | None) -> list[list[dict[str, Any]]]:
    """Return the inline keyboard rows of stored markup, or an empty list."""
    if markup is None:
        return []
    rows = markup.get("inline_keyboard")
    return rows if isinstance(rows, list) else []

"""answerCallbackQuery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram_emulator import errors
from telegram_emulator.errors import bad_request
from telegram_emulator.methods import api_method
from telegram_emulator.params import Params
from telegram_emulator.state import CallbackAnswer

if TYPE_CHECKING:
    from telegram_emulator.core import TelegramEmulator

MAX_ANSWER_TEXT = 200


@api_method("answerCallbackQuery")
def answer_callback_query(emu: TelegramEmulator, params: Params) -> bool:
    """Answer a button press once, within the time Telegram keeps the query open."""
    query_id = params.string("callback_query_id", required=True) or ""
    query = emu.callback_queries.get(query_id)
    expired = query is not None and emu.clock() - query.created > emu.callback_query_ttl
    if query is None or query.answer is not None or expired:
        raise bad_request(errors.QUERY_TOO_OLD)
    text = params.string("text")
    if text is not None and len(text) > MAX_ANSWER_TEXT:
        raise bad_request(errors.ANSWER_TOO_LONG)
    query.answer = CallbackAnswer(
        text=text,
        show_alert=params.flag("show_alert"),
        url=params.string("url"),
        cache_time=params.integer("cache_time") or 0,
    )
    query.answered.set()
    return True

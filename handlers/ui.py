"""Replying and keyboards: one way to answer a command or a button press."""

from __future__ import annotations

import json
import logging
import warnings
from functools import lru_cache
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.warnings import PTBUserWarning

from handlers.catalogue import Html
from handlers.context import BotContext
from storage import sends
from storage.logs import kv

log = logging.getLogger(__name__)
MAX_CALLBACK_BYTES = 64

# `call` reaches sendMessage/editMessageText through do_api_request on purpose (see `call`);
# PTB warns once per process that the typed methods exist, and that is known here.
warnings.filterwarnings(
    "ignore", message=r"Please use 'Bot\.(sendMessage|editMessageText)'", category=PTBUserWarning
)

Row = list[InlineKeyboardButton]
# Telegram's reasons (lower case) for an edit that cannot reach the message any more.
UNEDITABLE = ("message to edit not found", "message can't be edited")
# ... and for a callback answer that came too late or names a query it no longer knows.
LATE_ANSWER = ("query is too old", "query id is invalid")
# The send-queue kind of an answer queued because Telegram did not take it (`_send_later`).
REPLY = "reply"


# Buttons cannot change once made, so equal ones are shared: a screen's Back or Confirm is
# made once, not on every update (PTB takes ~20 us to make one).
@lru_cache(maxsize=2048)
def button(label: str, data: str) -> InlineKeyboardButton:
    """Return a callback button; its data must fit Telegram's 64 bytes."""
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data too long: {data!r}")
    return InlineKeyboardButton(label, callback_data=data)


@lru_cache(maxsize=256)
def link(label: str, url: str) -> InlineKeyboardButton:
    """Return a button that opens a URL."""
    return InlineKeyboardButton(label, url=url)


def keyboard(*rows: Row) -> InlineKeyboardMarkup:
    """Return an inline keyboard from rows of buttons (empty rows are dropped)."""
    return InlineKeyboardMarkup([row for row in rows if row])


# PTB's `to_dict` turns a markup into its Bot API form on every send (~30 us for four buttons
# here, 3-4% of a /me), and its request then JSON-encodes that form, twice (`RequestData`
# reads each parameter's `json_value` once to filter and once to keep: building a /me's
# request data took 18 us with the form, 10 us with it encoded; timeit, 2026-12-07). Most
# keyboards are the same screen sent again and again, and markups are immutable and compare
# (and hash, ~1 us) by their buttons, so equal ones share one encoded form: the Bot API takes
# `reply_markup` as a JSON-serialized object, and PTB passes a string parameter on as it is.
# A new markup (a /history page's arrows) is put together from its buttons' forms, which are
# shared too, since `button` hands out the same button for the same label and data.
@lru_cache(maxsize=1024)
def bot_api_json(markup: InlineKeyboardMarkup) -> str:
    """Return the markup's Bot API form, JSON-serialized, as `reply_markup` is sent."""
    rows = [[_button_form(b) for b in row] for row in markup.inline_keyboard]
    return json.dumps({"inline_keyboard": rows})  # as PTB would encode it


@lru_cache(maxsize=4096)
def _button_form(made: InlineKeyboardButton) -> dict[str, Any]:
    return made.to_dict()


async def call(bot: Bot, method: str, params: dict[str, Any], **options: Any) -> None:
    """Make a Bot API call whose answer is not needed (sendMessage, editMessageText).

    Against `do_api_request`'s documented intent (it is meant for methods PTB does not have
    yet), kept because the goal needs it: the typed `send_message`/`edit_message_text` parse
    Telegram's answer into a `Message`, which costs more than building and sending the
    message, and replies never use it. Measured side by side (`bench/bot_updates.py --reuse`,
    2026-12-02, ratio to the bare echo, goals /me >= 50%, mix >= 30%): the typed methods gave
    /me 33-39% and the mix 25-27% where this path gave /me 46-54% and the mix 31-36%. The
    markup goes as its cached JSON form (`bot_api_json`), which `api_kwargs` passes on as it
    is.
    Errors are raised exactly as the typed methods raise them; the rate limiter applies.
    """
    await bot.do_api_request(method, api_kwargs=params, **options)


async def reply(
    update: Update,
    context: BotContext,
    text: Html,
    markup: InlineKeyboardMarkup | None = None,
    *,
    edit: bool = True,
    protect: bool = False,
) -> None:
    """Answer an update: a pressed button's message is edited in place (unless `edit` is
    False or `protect` is needed, which only a new message can carry); otherwise send."""
    params: dict[str, Any] = {"text": text, "parse_mode": ParseMode.HTML}
    if markup is not None:
        params["reply_markup"] = bot_api_json(markup)
    query = update.callback_query
    # A button on a deleted or old message arrives with an InaccessibleMessage: no edit can
    # reach it, so the screen comes as a fresh message.
    message = query.message if query is not None else None
    if edit and not protect and message is not None and message.is_accessible:
        edit_params = {
            **params,
            "chat_id": message.chat.id,
            "message_id": message.message_id,
        }
        try:
            await call(context.bot, "editMessageText", edit_params)
            return
        except BadRequest as exc:  # first: BadRequest is a NetworkError in PTB
            reason = exc.message.lower()
            # A double tap re-renders the same screen: Telegram refuses an identical edit.
            if "not modified" in reason:
                return
            if not any(gone in reason for gone in UNEDITABLE):
                raise
            log.info("screen sent anew", extra=kv(event="edit_refused", reason=exc.message))
        except (RetryAfter, NetworkError) as exc:
            # Not lost: the screen comes later as a new message (the edit may be stale then).
            await _send_later(context, {**params, "chat_id": message.chat.id}, exc)
            return
    chat = update.effective_chat
    if chat is None:
        return
    params["chat_id"] = chat.id
    if protect:
        params["protect_content"] = True
    try:
        await call(context.bot, "sendMessage", params)
    except BadRequest:  # a refusal of this message (a NetworkError in PTB): no use again
        raise
    except (RetryAfter, NetworkError) as exc:
        await _send_later(context, params, exc)


async def _send_later(context: BotContext, params: dict[str, Any], error: Exception) -> None:
    """Queue an answer Telegram did not take (throttled past the rate limiter's retries, timed
    out, unreachable): the chat's send queue delivers it in order, retried, or records why not
    (bot/sender.py). A coupon code or a confirmation is never lost with the update."""
    await sends.enqueue(context.store, int(params["chat_id"]), REPLY, params)
    context.services.wake_sender()
    log.warning("answer queued", extra=kv(event="answer_queued", error=type(error).__name__))


async def answer_query(update: Update, text: str | None = None, *, alert: bool = False) -> bool:
    """Acknowledge a button press (early: the client shows a spinner until then).

    Return whether Telegram took the answer. It refuses one that comes too late ("query is
    too old", e.g. a backlog after a restart) or cannot arrive; that changes nothing of what
    the tap does, so callers never depend on it: what the member must know goes in a message.
    """
    query = update.callback_query
    if query is None:
        return False
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as exc:
        if not any(late in exc.message.lower() for late in LATE_ANSWER):
            raise
        log.info("callback answer refused", extra=kv(event="callback_answer_late"))
        return False
    except NetworkError as exc:  # timed out or unreachable: the tap still does its work
        log.warning(
            "callback answer failed",
            extra=kv(event="callback_answer_failed", error=type(exc).__name__),
        )
        return False
    return True


async def answer_or_say(
    update: Update, context: BotContext, text: Html, *, alert: bool = False
) -> None:
    """Answer a button press with `text`; if Telegram refuses the answer, send it as a message."""
    if not await answer_query(update, text, alert=alert):
        await reply(update, context, text, edit=False)

"""Replying and keyboards: one way to answer a command or a button press."""

from __future__ import annotations

import logging
import warnings
from functools import lru_cache
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.warnings import PTBUserWarning

from handlers.catalogue import Html
from handlers.context import BotContext

log = logging.getLogger(__name__)
MAX_CALLBACK_BYTES = 64

# `call` reaches sendMessage/editMessageText through do_api_request on purpose; PTB would
# suggest the typed methods once per process.
warnings.filterwarnings(
    "ignore", message=r"Please use 'Bot\.(sendMessage|editMessageText)'", category=PTBUserWarning
)

Row = list[InlineKeyboardButton]


class _Button(InlineKeyboardButton):
    """A button made here: a label and either callback data or a URL, nothing else, so its
    Bot API form is known without PTB's generic (and slow) serialisation."""

    __slots__ = ()

    def bot_api(self) -> dict[str, Any]:
        """Return the Bot API form."""
        if self.url is not None:
            return {"text": self.text, "url": self.url}
        return {"text": self.text, "callback_data": self.callback_data}


# Buttons cannot change once made, so equal ones are shared: a screen's Back or Confirm is
# made once, not on every update (PTB takes ~20 us to make one).
@lru_cache(maxsize=2048)
def button(label: str, data: str) -> InlineKeyboardButton:
    """Return a callback button; its data must fit Telegram's 64 bytes."""
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data too long: {data!r}")
    return _Button(label, callback_data=data)


@lru_cache(maxsize=256)
def link(label: str, url: str) -> InlineKeyboardButton:
    """Return a button that opens a URL."""
    return _Button(label, url=url)


class Keyboard(InlineKeyboardMarkup):
    """An inline keyboard that keeps its Bot API form once made.

    PTB turns a markup into a dict on every send (~95 us for four buttons on a small server),
    and most keyboards are built once per language and sent again and again. A markup cannot
    change after it is made, so neither can its dict; PTB only serialises it.
    """

    __slots__ = ("_as_dict",)
    _as_dict: dict[str, Any]

    def to_dict(self, recursive: bool = True) -> dict[str, Any]:
        """Return the Bot API form (computed once; do not modify it)."""
        if not recursive:
            return super().to_dict(recursive=False)
        try:
            return self._as_dict
        except AttributeError:
            rows = self.inline_keyboard
            if all(isinstance(b, _Button) for row in rows for b in row):
                made = [[b.bot_api() for b in row if isinstance(b, _Button)] for row in rows]
                self._as_dict = {"inline_keyboard": made}
            else:
                self._as_dict = super().to_dict()
            return self._as_dict


def keyboard(*rows: Row) -> InlineKeyboardMarkup:
    """Return an inline keyboard from rows of buttons (empty rows are dropped)."""
    return Keyboard([row for row in rows if row])


async def call(bot: Bot, method: str, params: dict[str, Any], **options: Any) -> None:
    """Make a Bot API call whose answer is not needed (sendMessage, editMessageText).

    The typed methods parse Telegram's answer into a `Message` (entities, keyboard...), which
    costs more than building and sending the message; replies and notices never use it.
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
        params["reply_markup"] = markup
    query = update.callback_query
    if query is not None and edit and not protect and query.message is not None:
        params.update(chat_id=query.message.chat.id, message_id=query.message.message_id)
        try:
            await call(context.bot, "editMessageText", params)
        except BadRequest as exc:
            # A double tap re-renders the same screen: Telegram refuses an identical edit.
            if "not modified" not in exc.message.lower():
                raise
        return
    chat = update.effective_chat
    if chat is None:
        return
    params["chat_id"] = chat.id
    if protect:
        params["protect_content"] = True
    await call(context.bot, "sendMessage", params)


async def answer_query(update: Update, text: str | None = None, *, alert: bool = False) -> None:
    """Acknowledge a button press (always first: the client shows a spinner until then)."""
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=alert)

"""What every sending method shares: threads, replies, markup, flood limits, storing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram_emulator import errors
from telegram_emulator.compose import Content
from telegram_emulator.errors import bad_request
from telegram_emulator.markup import validate_markup
from telegram_emulator.params import Params
from telegram_emulator.state import ChatRecord, FileRecord, StoredMessage

if TYPE_CHECKING:
    from telegram_emulator.core import TelegramEmulator


def markup_param(params: Params, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Return the validated ``reply_markup`` parameter."""
    raw = params.json_value("reply_markup", what="reply keyboard markup")
    return validate_markup(raw, inline_only=inline_only)


def reply_target(chat: ChatRecord, params: Params) -> StoredMessage | None:
    """Return the message being replied to (``reply_parameters`` or the older field)."""
    wanted: object = None
    allow_missing = params.flag("allow_sending_without_reply")
    reply = params.json_value("reply_parameters")
    if isinstance(reply, dict):
        wanted = reply.get("message_id")
        allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
    elif "reply_to_message_id" in params:
        wanted = params.integer("reply_to_message_id")
    if wanted is None:
        return None
    message = chat.messages.get(int(str(wanted)))
    if message is None or message.deleted:
        if allow_missing:
            return None
        raise bad_request(errors.REPLIED_NOT_FOUND)
    return message


def send_bot_message(
    emu: TelegramEmulator,
    params: Params,
    chat: ChatRecord,
    *,
    kind: str,
    content: Content,
    file: FileRecord | None = None,
) -> StoredMessage:
    """Validate the common parameters, apply the flood limits and store the bot's message."""
    thread = emu.resolve_thread(chat, params.integer("message_thread_id"))
    markup = markup_param(params)
    replied = reply_target(chat, params)
    if thread is None and replied is not None and chat.is_forum:
        thread = replied.thread_id  # a reply goes into the replied message's topic
    emu.check_rate(chat, paid=params.flag("allow_paid_broadcast"))
    inline = markup if markup is not None and "inline_keyboard" in markup else None
    return emu.store_message(
        chat,
        kind=kind,
        text=content.text,
        entities=content.entities,
        html=content.html,
        parse_mode=content.parse_mode,
        file=file,
        reply_markup=inline,
        keyboard=markup if inline is None else None,
        protect_content=params.flag("protect_content"),
        thread_id=thread,
        reply_to_message_id=replied.message_id if replied is not None else None,
    )


def editable_message(emu: TelegramEmulator, params: Params) -> StoredMessage:
    """Return the bot's own message named by chat_id + message_id, ready to edit."""
    if "inline_message_id" in params and "chat_id" not in params:
        # Inline-mode messages are not emulated: the product never sends any.
        raise bad_request("Bad Request: MESSAGE_ID_INVALID")
    chat = emu.find_chat(params.chat_id())
    emu.check_reachable(chat)
    message = chat.messages.get(params.integer("message_id", required=True) or 0)
    if message is None or not emu.accessible(message):
        raise bad_request(errors.MESSAGE_TO_EDIT_NOT_FOUND)
    if not message.from_bot or message.kind == "service":
        raise bad_request(errors.MESSAGE_CANT_BE_EDITED)
    return message


def mark_edited(emu: TelegramEmulator, message: StoredMessage) -> dict[str, Any]:
    """Stamp an edit, wake anyone waiting on the chat, and return the edited message."""
    message.edit_date = emu.unix_now()
    message.chat.activity.record(message.message_id)
    return message.to_dict()

"""sendMessage, the edits, deleteMessage and copyMessage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram_emulator import errors
from telegram_emulator.compose import Content, compose
from telegram_emulator.errors import bad_request
from telegram_emulator.methods import api_method
from telegram_emulator.methods._common import (
    editable_message,
    mark_edited,
    markup_param,
    send_bot_message,
)
from telegram_emulator.params import Params

if TYPE_CHECKING:
    from telegram_emulator.core import TelegramEmulator

DELETE_WINDOW = 48 * 3600  # Telegram: a message can be deleted for 48 hours after sending


@api_method("sendMessage")
def send_message(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Send a text message."""
    chat = emu.writable_chat(params.chat_id())
    content = compose(params, text_field="text", entities_field="entities")
    return send_bot_message(emu, params, chat, kind="text", content=content).to_dict()


@api_method("editMessageText")
def edit_message_text(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Replace a text message's text; no reply_markup means the keyboard goes away."""
    message = editable_message(emu, params)
    if message.kind != "text":
        raise bad_request(errors.NO_TEXT_TO_EDIT)
    content = compose(params, text_field="text", entities_field="entities")
    markup = markup_param(params, inline_only=True)
    unchanged = (content.text, content.entities, markup) == (
        message.text,
        message.entities,
        message.reply_markup,
    )
    if unchanged:
        raise bad_request(errors.NOT_MODIFIED)
    emu.check_rate(message.chat, edit=True)
    message.text, message.entities = content.text, content.entities
    message.html, message.parse_mode = content.html, content.parse_mode
    message.reply_markup = markup
    return mark_edited(emu, message)


@api_method("editMessageCaption")
def edit_message_caption(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Replace a media message's caption."""
    message = editable_message(emu, params)
    if message.kind == "text":
        raise bad_request("Bad Request: there is no caption in the message to edit")
    content = compose(params, text_field="caption", entities_field="caption_entities", caption=True)
    markup = markup_param(params, inline_only=True)
    if (content.text, content.entities, markup) == (
        message.text,
        message.entities,
        message.reply_markup,
    ):
        raise bad_request(errors.NOT_MODIFIED)
    emu.check_rate(message.chat, edit=True)
    message.text, message.entities = content.text, content.entities
    message.html, message.parse_mode = content.html, content.parse_mode
    message.reply_markup = markup
    return mark_edited(emu, message)


@api_method("editMessageReplyMarkup")
def edit_message_reply_markup(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Replace (or, without reply_markup, remove) a message's inline keyboard."""
    message = editable_message(emu, params)
    markup = markup_param(params, inline_only=True)
    if markup == message.reply_markup:
        raise bad_request(errors.NOT_MODIFIED)
    emu.check_rate(message.chat, edit=True)
    message.reply_markup = markup
    return mark_edited(emu, message)


@api_method("deleteMessage")
def delete_message(emu: TelegramEmulator, params: Params) -> bool:
    """Delete a message, within Telegram's 48 hours and rights rules."""
    chat = emu.find_chat(params.chat_id())
    message = chat.messages.get(params.integer("message_id", required=True) or 0)
    if message is None or message.deleted:
        raise bad_request(errors.MESSAGE_TO_DELETE_NOT_FOUND)
    if message.service is not None and "forum_topic_created" in message.service:
        raise bad_request(errors.MESSAGE_CANT_BE_DELETED)
    if chat.is_group and not message.from_bot and not chat.bot_admin:
        raise bad_request(errors.MESSAGE_CANT_BE_DELETED)
    if emu.unix_now() - message.date >= DELETE_WINDOW:
        raise bad_request(errors.MESSAGE_CANT_BE_DELETED)
    message.deleted = True
    return True


@api_method("copyMessage")
def copy_message(emu: TelegramEmulator, params: Params) -> dict[str, int]:
    """Copy a text, photo, document or voice message, optionally into a forum topic."""
    chat = emu.writable_chat(params.chat_id())
    source_chat = emu.find_chat(params.chat_id("from_chat_id"))
    source = source_chat.messages.get(params.integer("message_id", required=True) or 0)
    if source is None or source.deleted:
        raise bad_request(errors.MESSAGE_TO_COPY_NOT_FOUND)
    # Telegram copies neither service messages, quizzes nor paid media, nor anything from a
    # chat that protects its content or a message sent with protect_content.
    quiz = source.kind == "poll" and (source.media or {}).get("type") == "quiz"
    if (
        source.kind in ("service", "paid_media")
        or quiz
        or source_chat.protected
        or source.protect_content
    ):
        raise bad_request(errors.MESSAGE_CANT_BE_COPIED)
    if source.kind != "text" and "caption" in params:
        content = compose(
            params, text_field="caption", entities_field="caption_entities", caption=True
        )
    else:
        # A text message keeps its text (caption is ignored); media keep their caption.
        content = Content(
            text=source.text,
            entities=[dict(e) for e in source.entities],
            html=source.html,
            parse_mode=source.parse_mode,
        )
    copy = send_bot_message(emu, params, chat, kind=source.kind, content=content, file=source.file)
    return {"message_id": copy.message_id}

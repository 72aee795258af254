"""getChat, pinning and chat actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram_emulator import errors
from telegram_emulator.errors import bad_request
from telegram_emulator.methods import api_method
from telegram_emulator.params import Params

if TYPE_CHECKING:
    from telegram_emulator.core import TelegramEmulator

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)


@api_method("getChat")
def get_chat(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Return a ChatFullInfo with the fields the Bot API always sends."""
    chat = emu.find_chat(params.chat_id())
    info = chat.to_dict()
    info.update(
        {
            "accent_color_id": chat.id % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
    )
    pinned = [m for m in chat.live_messages() if m.pinned]
    if pinned:
        info["pinned_message"] = pinned[-1].to_dict()
    return info


@api_method("pinChatMessage")
def pin_chat_message(emu: TelegramEmulator, params: Params) -> bool:
    """Pin a message."""
    chat = emu.writable_chat(params.chat_id())
    message = chat.messages.get(params.integer("message_id", required=True) or 0)
    if message is None or message.deleted:
        raise bad_request(errors.MESSAGE_TO_PIN_NOT_FOUND)
    message.pinned = True
    return True


@api_method("unpinChatMessage")
def unpin_chat_message(emu: TelegramEmulator, params: Params) -> bool:
    """Unpin one message, or the most recently pinned one if none is named."""
    chat = emu.writable_chat(params.chat_id())
    message_id = params.integer("message_id")
    if message_id is None:
        pinned = [m for m in chat.live_messages() if m.pinned]
        if pinned:
            pinned[-1].pinned = False
        return True
    message = chat.messages.get(message_id)
    if message is None or message.deleted:
        raise bad_request(errors.MESSAGE_TO_UNPIN_NOT_FOUND)
    message.pinned = False
    return True


@api_method("sendChatAction")
def send_chat_action(emu: TelegramEmulator, params: Params) -> bool:
    """Record a chat action ("typing", ...); it is shown, never stored as a message."""
    chat = emu.writable_chat(params.chat_id())
    action = params.string("action", required=True)
    if action not in CHAT_ACTIONS:
        raise bad_request(errors.WRONG_ACTION)
    thread = emu.resolve_thread(chat, params.integer("message_thread_id"))
    emu.chat_actions.append((chat.id, action, thread))
    return True

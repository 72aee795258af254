"""Forum topics: create, edit, close, reopen, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram_emulator import errors
from telegram_emulator.errors import bad_request
from telegram_emulator.methods import api_method
from telegram_emulator.params import Params
from telegram_emulator.state import ChatRecord, Topic

if TYPE_CHECKING:
    from telegram_emulator.core import TelegramEmulator

DEFAULT_ICON_COLOR = 0x6FB9F0  # Telegram's first topic colour, used when none is given


def _forum(emu: TelegramEmulator, params: Params) -> ChatRecord:
    chat = emu.find_chat(params.chat_id())
    emu.check_reachable(chat)
    if not chat.is_forum:
        raise bad_request(errors.NOT_A_FORUM)
    return chat


def _topic(emu: TelegramEmulator, params: Params) -> tuple[ChatRecord, Topic]:
    chat = _forum(emu, params)
    topic = chat.topics.get(params.integer("message_thread_id", required=True) or 0)
    if topic is None or topic.deleted:
        raise bad_request(errors.TOPIC_ID_INVALID)
    # The topic's creator may edit, close and reopen it; anyone else needs can_manage_topics.
    if not topic.by_bot and not (chat.bot_admin and chat.bot_can_manage_topics):
        raise bad_request(errors.NOT_ENOUGH_RIGHTS_TOPIC)
    return chat, topic


def _service(
    emu: TelegramEmulator, chat: ChatRecord, topic: Topic, payload: dict[str, Any]
) -> None:
    # Topic changes leave a service message in the topic, as in the Telegram apps.
    emu.store_message(chat, kind="service", service=payload, thread_id=topic.thread_id)


@api_method("createForumTopic")
def create_forum_topic(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Create a topic; its id is the id of the service message that opens it."""
    chat = _forum(emu, params)
    if not (chat.bot_admin and chat.bot_can_manage_topics):
        raise bad_request(errors.NO_RIGHTS_TOPIC)
    name = params.string("name", required=True) or ""
    if not name:
        raise bad_request("Bad Request: TOPIC_TITLE_EMPTY")
    color = params.integer("icon_color") or DEFAULT_ICON_COLOR
    created = {"forum_topic_created": {"name": name, "icon_color": color}}
    message = emu.store_message(chat, kind="service", service=created)
    topic = Topic(
        thread_id=message.message_id,
        name=name,
        icon_color=color,
        icon_custom_emoji_id=params.string("icon_custom_emoji_id"),
        by_bot=True,
    )
    message.thread_id = topic.thread_id
    chat.topics[topic.thread_id] = topic
    return topic.to_dict()


@api_method("editForumTopic")
def edit_forum_topic(emu: TelegramEmulator, params: Params) -> bool:
    """Rename a topic or change its icon."""
    chat, topic = _topic(emu, params)
    name = params.string("name")
    emoji = params.string("icon_custom_emoji_id")
    if (name is None or name == topic.name) and (
        emoji is None or emoji == topic.icon_custom_emoji_id
    ):
        raise bad_request(errors.TOPIC_NOT_MODIFIED)
    edited: dict[str, Any] = {}
    if name is not None:
        topic.name = edited["name"] = name
    if emoji is not None:
        topic.icon_custom_emoji_id = edited["icon_custom_emoji_id"] = emoji
    _service(emu, chat, topic, {"forum_topic_edited": edited})
    return True


@api_method("closeForumTopic")
def close_forum_topic(emu: TelegramEmulator, params: Params) -> bool:
    """Close an open topic."""
    chat, topic = _topic(emu, params)
    if topic.closed:
        raise bad_request(errors.TOPIC_NOT_MODIFIED)
    topic.closed = True
    _service(emu, chat, topic, {"forum_topic_closed": {}})
    return True


@api_method("reopenForumTopic")
def reopen_forum_topic(emu: TelegramEmulator, params: Params) -> bool:
    """Reopen a closed topic."""
    chat, topic = _topic(emu, params)
    if not topic.closed:
        raise bad_request(errors.TOPIC_NOT_MODIFIED)
    topic.closed = False
    _service(emu, chat, topic, {"forum_topic_reopened": {}})
    return True


@api_method("deleteForumTopic")
def delete_forum_topic(emu: TelegramEmulator, params: Params) -> bool:
    """Delete a topic with all its messages."""
    chat, topic = _topic(emu, params)
    chat.delete_topic(topic)
    return True

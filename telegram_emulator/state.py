"""In-memory records of users, chats, messages, topics, files and callback queries."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UserRecord:
    """A Telegram user (never the bot itself)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    started: bool = False  # wrote to the bot in private at least once
    blocked: bool = False  # blocked the bot

    def to_dict(self) -> dict[str, Any]:
        """Return the Bot API ``User`` object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass
class FileRecord:
    """A file Telegram knows by file_id: a photo size, a document or a voice note."""

    file_id: str
    file_unique_id: str
    kind: str  # "photo" | "document" | "voice"
    size: int
    meta: dict[str, Any] = field(default_factory=dict)
    # A photo is several sizes of one picture; every size's record lists all of them.
    siblings: list[FileRecord] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the Bot API object (PhotoSize, Document or Voice) for this file."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            **self.meta,
        }

    def media(self) -> Any:
        """Return what a message carries for this file: a list of sizes for a photo."""
        if self.kind == "photo":
            return [part.to_dict() for part in (self.siblings or [self])]
        return self.to_dict()


@dataclass
class Topic:
    """A forum topic; its id is the id of the service message that created it."""

    thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    closed: bool = False
    deleted: bool = False
    by_bot: bool = False  # created by the bot (which may then manage it without the right)

    def to_dict(self) -> dict[str, Any]:
        """Return the Bot API ``ForumTopic`` object."""
        data: dict[str, Any] = {
            "message_thread_id": self.thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
        }
        if self.icon_custom_emoji_id:
            data["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return data


class Activity:
    """Counts the bot's sends and edits in one chat and wakes whoever waits for the next."""

    def __init__(self) -> None:
        self.log: list[tuple[int, int]] = []  # (sequence number, message_id)
        self._event = asyncio.Event()

    @property
    def seq(self) -> int:
        """Return the sequence number of the latest activity (0 before any)."""
        return len(self.log)

    def record(self, message_id: int) -> None:
        """Note that the bot sent or edited ``message_id`` and wake the waiters."""
        self.log.append((len(self.log) + 1, message_id))
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait_beyond(self, seq: int) -> int:
        """Wait until there is activity after ``seq``; return the message_id of the next one."""
        while self.seq <= seq:
            await self._event.wait()
        return self.log[seq][1]


@dataclass
class StoredMessage:
    """One message in one chat, as Telegram stores it."""

    chat: ChatRecord
    message_id: int
    date: int
    sender: dict[str, Any]
    from_bot: bool
    kind: str  # "text" | "photo" | "document" | "voice" | "service" | "poll" | "paid_media"
    text: str = ""  # the visible text, or the caption of a media message
    entities: list[dict[str, Any]] = field(default_factory=list)
    html: str | None = None  # the raw source when it was sent with parse_mode=HTML
    parse_mode: str | None = None
    file: FileRecord | None = None
    reply_markup: dict[str, Any] | None = None  # inline keyboard, part of the message
    keyboard: dict[str, Any] | None = None  # reply keyboard sent along, not part of it
    protect_content: bool = False
    thread_id: int | None = None
    reply_to_message_id: int | None = None
    service: dict[str, Any] | None = None
    media: dict[str, Any] | None = None  # the Bot API object of a poll or paid media message
    edit_date: int | None = None
    pinned: bool = False
    deleted: bool = False

    def to_dict(self, *, with_reply: bool = True) -> dict[str, Any]:
        """Return the Bot API ``Message`` object."""
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "date": self.date,
            "chat": self.chat.to_dict(),
            "from": self.sender,
        }
        if self.thread_id is not None:
            data["message_thread_id"] = self.thread_id
            if self.chat.is_forum:
                data["is_topic_message"] = True
        if with_reply:
            reply = self.replied_message()
            if reply is not None:
                data["reply_to_message"] = reply.to_dict(with_reply=False)
        if self.kind == "text":
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        elif self.kind == "service":
            data.update(self.service or {})
        elif self.media is not None:
            data[self.kind] = self.media
        else:
            assert self.file is not None
            data[self.kind] = self.file.media()
            if self.text:
                data["caption"] = self.text
                if self.entities:
                    data["caption_entities"] = self.entities
        if self.reply_markup is not None:
            data["reply_markup"] = self.reply_markup
        if self.protect_content:
            data["has_protected_content"] = True
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        return data

    def replied_message(self) -> StoredMessage | None:
        """Return the message this one answers; in a forum topic that is the topic's start."""
        if self.reply_to_message_id is not None:
            return self.chat.messages.get(self.reply_to_message_id)
        if self.chat.is_forum and self.thread_id is not None and self.thread_id != self.message_id:
            # Telegram marks every topic message as a reply to the topic's creation message.
            return self.chat.messages.get(self.thread_id)
        return None


@dataclass
class ChatRecord:
    """A private chat with one user, or a supergroup (optionally a forum)."""

    id: int
    type: str  # "private" | "supergroup"
    title: str | None = None
    user: UserRecord | None = None
    username: str | None = None
    is_forum: bool = False
    bot_member: bool = True
    bot_admin: bool = True
    # An admin right of its own: create topics, post in closed ones, edit or close topics the
    # bot did not create (its own it may edit, close and reopen without it).
    bot_can_manage_topics: bool = True
    # "Restrict saving content": nothing in the chat may be forwarded or copied.
    protected: bool = False
    members: set[int] = field(default_factory=set)
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    topics: dict[int, Topic] = field(default_factory=dict)
    activity: Activity = field(default_factory=Activity)
    last_message_id: int = 0

    @property
    def is_group(self) -> bool:
        """Return True for a supergroup."""
        return self.type != "private"

    def new_message_id(self) -> int:
        """Allocate the next message id; ids are per chat and never reused."""
        self.last_message_id += 1
        return self.last_message_id

    def to_dict(self) -> dict[str, Any]:
        """Return the Bot API ``Chat`` object."""
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.user is not None:
            data.update(
                {
                    k: v
                    for k, v in self.user.to_dict().items()
                    if k in ("first_name", "last_name", "username")
                }
            )
        if self.title is not None:
            data["title"] = self.title
        if self.username is not None and self.user is None:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data

    def delete_topic(self, topic: Topic) -> None:
        """Mark a topic and every message in it deleted."""
        topic.deleted = True
        for message in self.messages.values():
            if message.thread_id == topic.thread_id:
                message.deleted = True

    def live_messages(self, thread_id: int | None = None) -> list[StoredMessage]:
        """Return the chat's messages that were not deleted, oldest first."""
        return [
            m
            for m in self.messages.values()
            if not m.deleted and (thread_id is None or m.thread_id == thread_id)
        ]


@dataclass
class CallbackAnswer:
    """What the bot answered to a button press (``answerCallbackQuery``)."""

    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int = 0


@dataclass
class CallbackQueryRecord:
    """A button press waiting for (or having received) the bot's answer."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str | None
    created: float  # emulator clock
    answer: CallbackAnswer | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)

"""People using the bot: send text and files, press buttons, read what the bot sent.

A :class:`Person` acts through the emulator exactly as a Telegram client would: each action
becomes an update (a ``message`` or a ``callback_query``) delivered to the bot the current way
(directly, by webhook, or queued for getUpdates). What the bot sends back is read through
:class:`MessageView` objects, which follow later edits and deletions.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from telegram_emulator.markup import inline_keyboard
from telegram_emulator.state import (
    CallbackAnswer,
    ChatRecord,
    FileRecord,
    StoredMessage,
    UserRecord,
)
from telegram_emulator.text import bot_command_entities, trim

if TYPE_CHECKING:
    from telegram_emulator.core import TelegramEmulator


class Button(NamedTuple):
    """One inline keyboard button as a person sees it."""

    label: str
    callback_data: str | None = None
    url: str | None = None


class MessageView:
    """A read-only, live view of one message (it reflects later edits and deletion)."""

    def __init__(self, message: StoredMessage) -> None:
        self._message = message

    def __repr__(self) -> str:
        state = " deleted" if self.deleted else (" edited" if self.edited else "")
        return f"<MessageView {self.chat_id}/{self.message_id}{state} {self.text!r}>"

    @property
    def record(self) -> StoredMessage:
        """Return the stored message behind the view (as ``Person.record``, ``Group.record``)."""
        return self._message

    @property
    def message_id(self) -> int:
        """Return the message id (unique within its chat)."""
        return self._message.message_id

    @property
    def chat_id(self) -> int:
        """Return the id of the chat the message is in."""
        return self._message.chat.id

    @property
    def kind(self) -> str:
        """Return ``text``, ``photo``, ``document``, ``voice`` or ``service``."""
        return self._message.kind

    @property
    def text(self) -> str:
        """Return the visible plain text (the caption for media), without HTML tags."""
        return self._message.text

    @property
    def html(self) -> str:
        """Return the HTML the bot sent, or the text escaped as HTML if it sent none."""
        if self._message.html is not None:
            return self._message.html
        return html.escape(self._message.text, quote=False)

    @property
    def parse_mode(self) -> str | None:
        """Return the parse mode the message was sent with."""
        return self._message.parse_mode

    @property
    def entities(self) -> list[dict[str, Any]]:
        """Return the entities (bold, links, commands, ...) of the text or caption."""
        return [dict(e) for e in self._message.entities]

    @property
    def buttons(self) -> list[list[Button]]:
        """Return the inline keyboard as rows of buttons (empty if none)."""
        return [
            [Button(b["text"], b.get("callback_data"), b.get("url")) for b in row]
            for row in inline_keyboard(self._message.reply_markup)
        ]

    @property
    def button_labels(self) -> list[str]:
        """Return every inline button's label, row by row."""
        return [button.label for row in self.buttons for button in row]

    @property
    def keyboard(self) -> list[list[str]]:
        """Return the labels of a reply keyboard sent with the message (empty if none)."""
        markup = self._message.keyboard or {}
        rows = markup.get("keyboard") or []
        return [[b if isinstance(b, str) else str(b.get("text")) for b in row] for row in rows]

    @property
    def protect_content(self) -> bool:
        """Return whether forwarding and saving are forbidden."""
        return self._message.protect_content

    @property
    def edited(self) -> bool:
        """Return whether the message was edited after it was sent."""
        return self._message.edit_date is not None

    @property
    def deleted(self) -> bool:
        """Return whether the message was deleted."""
        return self._message.deleted

    @property
    def pinned(self) -> bool:
        """Return whether the message is pinned."""
        return self._message.pinned

    @property
    def thread_id(self) -> int | None:
        """Return the forum topic (message_thread_id) the message is in."""
        return self._message.thread_id

    @property
    def from_bot(self) -> bool:
        """Return whether the bot sent the message."""
        return self._message.from_bot

    @property
    def sender_id(self) -> int:
        """Return the id of the user (or bot) who sent the message."""
        return int(self._message.sender["id"])

    @property
    def file_id(self) -> str | None:
        """Return the file_id of a photo (largest size), document or voice note."""
        file = self._message.file
        return file.file_id if file is not None else None

    @property
    def reply_to_message_id(self) -> int | None:
        """Return the id of the message this one explicitly replies to."""
        return self._message.reply_to_message_id

    @property
    def service(self) -> dict[str, Any] | None:
        """Return the payload of a service message (e.g. ``forum_topic_created``)."""
        return self._message.service

    def to_dict(self) -> dict[str, Any]:
        """Return the Bot API ``Message`` object."""
        return self._message.to_dict()


@dataclass(frozen=True)
class TopicView:
    """A forum topic as the group shows it."""

    thread_id: int
    name: str
    closed: bool
    deleted: bool
    icon_color: int


class Group:
    """A supergroup (optionally a forum) the bot is in."""

    def __init__(self, emulator: TelegramEmulator, record: ChatRecord) -> None:
        self._emulator = emulator
        self.record = record

    def __repr__(self) -> str:
        return f"<Group {self.chat_id} {self.title!r}>"

    @property
    def chat_id(self) -> int:
        """Return the chat id (negative)."""
        return self.record.id

    @property
    def title(self) -> str:
        """Return the group's title."""
        return self.record.title or ""

    @property
    def topics(self) -> dict[int, TopicView]:
        """Return every topic ever created, deleted ones included, by thread id."""
        return {
            t.thread_id: TopicView(t.thread_id, t.name, t.closed, t.deleted, t.icon_color)
            for t in self.record.topics.values()
        }

    def topic(self, name: str) -> TopicView:
        """Return the newest live topic called ``name``."""
        for topic in reversed(list(self.topics.values())):
            if topic.name == name and not topic.deleted:
                return topic
        raise LookupError(f"no topic named {name!r} in {self.title!r}")

    def set_bot_rights(self, *, can_manage_topics: bool) -> None:
        """Give or take the bot's can_manage_topics admin right (it stays an admin)."""
        self.record.bot_can_manage_topics = can_manage_topics

    def protect_content(self, protected: bool = True) -> None:
        """Turn "restrict saving content" on or off: copies from the group are refused."""
        self.record.protected = protected

    def close_topic(self, thread_id: int) -> None:
        """Close a topic as an agent would in the app."""
        self.record.topics[thread_id].closed = True

    def add_member(self, person: Person) -> None:
        """Make ``person`` a member (sending a message does this too)."""
        self.record.members.add(person.id)

    def messages(self, thread_id: int | None = None) -> list[MessageView]:
        """Return the group's live messages (service messages left out), oldest first."""
        return [MessageView(m) for m in self.record.live_messages(thread_id) if m.kind != "service"]

    def bot_messages(self, thread_id: int | None = None) -> list[MessageView]:
        """Return the bot's live messages in the group or in one topic."""
        return [
            MessageView(m)
            for m in self.record.live_messages(thread_id)
            if m.from_bot and m.kind != "service"
        ]

    def last_bot_message(self, thread_id: int | None = None) -> MessageView:
        """Return the bot's latest message in the group or topic."""
        found = self.bot_messages(thread_id)
        if not found:
            raise LookupError(f"the bot has sent nothing to {self.title!r}")
        return found[-1]


class Person:
    """A Telegram user acting on the bot, in private or in groups."""

    def __init__(self, emulator: TelegramEmulator, record: UserRecord) -> None:
        self._emulator = emulator
        self.record = record
        self._marks: dict[int, int] = {}  # chat id -> last message id before my last action
        self._seen: dict[int, int] = {}  # chat id -> bot activity consumed by wait_reply

    def __repr__(self) -> str:
        return f"<Person {self.id} {self.record.first_name!r}>"

    @property
    def id(self) -> int:
        """Return the user id (also the id of their private chat with the bot)."""
        return self.record.id

    @property
    def first_name(self) -> str:
        """Return the first name."""
        return self.record.first_name

    @property
    def blocked(self) -> bool:
        """Return whether this person blocked the bot."""
        return self.record.blocked

    def block(self) -> None:
        """Block the bot: its messages now fail with 403 Forbidden."""
        self.record.blocked = True

    def unblock(self) -> None:
        """Unblock the bot."""
        self.record.blocked = False

    # -- acting ---------------------------------------------------------------------------

    async def send(
        self,
        text: str,
        *,
        chat: Group | None = None,
        thread_id: int | None = None,
        reply_to: MessageView | int | None = None,
    ) -> MessageView:
        """Send a text message (``/cmd`` and ``/cmd@bot`` get bot_command entities)."""
        visible, entities = trim(text, bot_command_entities(text))
        if not visible:
            raise ValueError("Telegram clients do not send empty messages")
        return await self._post(
            chat, thread_id, reply_to, kind="text", text=visible, entities=entities
        )

    async def send_photo(
        self, caption: str | None = None, *, chat: Group | None = None, thread_id: int | None = None
    ) -> MessageView:
        """Send a photo (a fake file_id Telegram would accept back from the bot)."""
        return await self._send_file(self._emulator.new_photo(48_213), caption, chat, thread_id)

    async def send_document(
        self,
        caption: str | None = None,
        *,
        file_name: str = "document.pdf",
        mime_type: str = "application/pdf",
        chat: Group | None = None,
        thread_id: int | None = None,
    ) -> MessageView:
        """Send a document."""
        file = self._emulator.new_file("document", 20_480, file_name=file_name, mime_type=mime_type)
        return await self._send_file(file, caption, chat, thread_id)

    async def send_voice(
        self,
        caption: str | None = None,
        *,
        duration: int = 3,
        chat: Group | None = None,
        thread_id: int | None = None,
    ) -> MessageView:
        """Send a voice note."""
        file = self._emulator.new_file(
            "voice", 6_000 * duration, duration=duration, mime_type="audio/ogg"
        )
        return await self._send_file(file, caption, chat, thread_id)

    async def send_quiz(
        self,
        question: str = "2 + 2?",
        options: tuple[str, ...] = ("3", "4"),
        *,
        correct: int = 1,
        chat: Group | None = None,
        thread_id: int | None = None,
    ) -> MessageView:
        """Send a quiz (a poll with a right answer), which Telegram will not let a bot copy."""
        poll = {
            "id": str(self._emulator.new_file("poll").file_unique_id),
            "question": question,
            "options": [
                {"text": o, "voter_count": 0, "persistent_id": str(n)}
                for n, o in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "quiz",
            "allows_multiple_answers": False,
            "allows_revoting": False,
            "members_only": False,
            "correct_option_ids": [correct],
        }
        return await self._post(chat, thread_id, None, kind="poll", media=poll)

    async def send_paid_media(
        self, stars: int = 10, *, chat: Group | None = None, thread_id: int | None = None
    ) -> MessageView:
        """Send paid media (a photo behind stars), which Telegram will not let a bot copy."""
        media = {"star_count": stars, "paid_media": [{"type": "preview"}]}
        return await self._post(chat, thread_id, None, kind="paid_media", media=media)

    async def press(
        self,
        label: str,
        *,
        message: MessageView | None = None,
        chat: Group | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 -- how long to wait for the bot's answer
    ) -> CallbackAnswer | None:
        """Press the inline button labelled ``label``; return the bot's answer.

        The button is looked up on ``message``, or on the newest bot message in the chat
        that has such a button. Returns None if the bot did not answer the query (in queue
        and webhook modes after waiting ``timeout`` seconds).
        """
        record = self._chat(chat)
        target, button = _find_button(record, label, message)
        data = button.get("callback_data")
        if data is None:
            kind = next((k for k in button if k != "text"), "unknown")
            raise ValueError(f"{label!r} is a {kind} button, pressing it sends nothing to the bot")
        return await self._press(record, target, data, timeout)

    async def press_data(
        self,
        data: str,
        *,
        message: MessageView | None = None,
        chat: Group | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 -- how long to wait for the bot's answer
    ) -> CallbackAnswer | None:
        """Send a callback query with any ``data``, as a modified client could."""
        record = self._chat(chat)
        if message is not None:
            target = message.record
        else:
            sent = [m for m in record.live_messages() if m.from_bot and m.kind != "service"]
            if not sent:
                raise LookupError("the bot has sent no message to attach the query to")
            target = sent[-1]
        return await self._press(record, target, data, timeout)

    # -- reading --------------------------------------------------------------------------

    def bot_messages(self, chat: Group | None = None) -> list[MessageView]:
        """Return every live message the bot sent in the chat (private by default)."""
        return [
            MessageView(m)
            for m in self._chat(chat).live_messages()
            if m.from_bot and m.kind != "service"
        ]

    def last_reply(self, chat: Group | None = None) -> MessageView:
        """Return the bot's newest message in the chat."""
        sent = self.bot_messages(chat)
        if not sent:
            raise LookupError(f"{self.first_name} has no message from the bot")
        return sent[-1]

    def mark(self, chat: Group | None = None) -> int:
        """Return a bookmark: the id of the newest message in the chat right now."""
        return self._chat(chat).last_message_id

    def activity(self, chat: Group | None = None) -> int:
        """Return a bookmark of the bot's sends and edits in the chat so far (a count)."""
        return self._chat(chat).activity.seq

    async def wait_activity(self, after: int, chat: Group | None = None) -> None:
        """Wait until the bot sends or edits something in the chat past bookmark ``after``.

        Unlike ``wait_reply`` it consumes nothing and has no timeout: a watcher's wait.
        """
        await self._chat(chat).activity.wait_beyond(after)

    def messages_since(self, mark: int, chat: Group | None = None) -> list[MessageView]:
        """Return the bot's live messages sent after ``mark``."""
        return [m for m in self.bot_messages(chat) if m.message_id > mark]

    def replies(self, chat: Group | None = None) -> list[MessageView]:
        """Return what the bot sent after this person's last send or press in the chat."""
        record = self._chat(chat)
        return self.messages_since(self._marks.get(record.id, 0), chat)

    async def wait_reply(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109 -- part of the test-facing API
        *,
        chat: Group | None = None,
        thread_id: int | None = None,
    ) -> MessageView:
        """Wait for the bot's next send or edit in the chat since my last action.

        Each call consumes one event, so two replies are read with two calls. It waits on an
        event the emulator fires when the bot posts; it never polls.
        """
        record = self._chat(chat)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    seen = self._seen.get(record.id, 0)
                    message_id = await record.activity.wait_beyond(seen)
                    self._seen[record.id] = seen + 1
                    message = record.messages[message_id]
                    if thread_id is None or message.thread_id == thread_id:
                        return MessageView(message)
        except TimeoutError:
            where = f"in {record.title!r}" if record.is_group else "in private"
            raise TimeoutError(
                f"{self.first_name} got no reply {where} within {timeout} s"
            ) from None

    def menu_commands(self, chat: Group | None = None) -> list[dict[str, str]]:
        """Return the command menu this person sees (scopes and language resolved)."""
        record = self._chat(chat)
        return self._emulator.commands_for(self.id, record.id, self.record.language_code)

    # -- internals ------------------------------------------------------------------------

    def _chat(self, chat: Group | None) -> ChatRecord:
        if chat is None:
            return self._emulator.chats[self.id]
        return chat.record

    def _before_action(self, record: ChatRecord) -> None:
        """Bookmark the chat so replies() and wait_reply() see only what comes next."""
        self._marks[record.id] = record.last_message_id
        self._seen[record.id] = record.activity.seq

    async def _send_file(
        self, file: FileRecord, caption: str | None, chat: Group | None, thread_id: int | None
    ) -> MessageView:
        text, entities = trim(caption or "", bot_command_entities(caption or ""))
        return await self._post(
            chat, thread_id, None, kind=file.kind, text=text, entities=entities, file=file
        )

    async def _post(
        self,
        chat: Group | None,
        thread_id: int | None,
        reply_to: MessageView | int | None,
        **fields: Any,
    ) -> MessageView:
        record = self._chat(chat)
        if record.is_group:
            record.members.add(self.id)
            if thread_id is not None and record.is_forum:
                topic = record.topics.get(thread_id)
                if topic is None or topic.deleted:
                    raise LookupError(f"no topic {thread_id} in {record.title!r}")
        else:
            if self.record.blocked:
                raise RuntimeError(f"{self.first_name} blocked the bot; unblock() first")
            self.record.started = True
            thread_id = None
        reply_id = reply_to.message_id if isinstance(reply_to, MessageView) else reply_to
        self._before_action(record)
        message = self._emulator.store_message(
            record,
            sender=self.record.to_dict(),
            thread_id=thread_id,
            reply_to_message_id=reply_id,
            **fields,
        )
        self._marks[record.id] = message.message_id
        await self._emulator.emit("message", message.to_dict())
        return MessageView(message)

    async def _press(
        self,
        record: ChatRecord,
        target: StoredMessage,
        data: str,
        timeout: float,  # noqa: ASYNC109 -- passed through from press()
    ) -> CallbackAnswer | None:
        emulator = self._emulator
        self._before_action(record)
        query = emulator.new_callback_query(self.record, target, data)
        payload = {
            "id": query.id,
            "from": self.record.to_dict(),
            # A deleted or too old message arrives as an InaccessibleMessage (date 0).
            "message": emulator.callback_message(target),
            # Telegram's global chat identifier; derived from the chat id to stay stable.
            "chat_instance": str(abs(record.id) * 31 + 5_000_000_000_000),
            "data": data,
        }
        await emulator.emit("callback_query", payload)
        if emulator.delivery != "direct" and query.answer is None:
            try:
                async with asyncio.timeout(timeout):
                    await query.answered.wait()
            except TimeoutError:
                return None
        return query.answer


def _find_button(
    record: ChatRecord, label: str, message: MessageView | None
) -> tuple[StoredMessage, dict[str, Any]]:
    """Find the button ``label`` on ``message`` or on the newest bot message that has it.

    A ``message`` given explicitly may have been deleted: a client that has not caught up
    still shows it, and a press on it reaches the bot as an ``InaccessibleMessage``.
    """
    if message is not None:
        candidates = [message.record]
    else:
        candidates = [m for m in reversed(record.live_messages()) if m.from_bot]
    for candidate in candidates:
        for row in inline_keyboard(candidate.reply_markup):
            for button in row:
                if button.get("text") == label:
                    return candidate, button
    shown = [MessageView(c).button_labels for c in candidates if c.reply_markup][:1]
    raise LookupError(f"no button {label!r}; the newest keyboard has {shown[0] if shown else []}")

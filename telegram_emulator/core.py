"""The emulator: Telegram's state for one bot, the Bot API dispatcher and update delivery."""

from __future__ import annotations

import asyncio
import datetime as dtm
import inspect
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from telegram_emulator import errors
from telegram_emulator.clock import Clock
from telegram_emulator.errors import ApiError, bad_request, forbidden
from telegram_emulator.limits import RateLimiter, RateLimits
from telegram_emulator.params import Params, Upload
from telegram_emulator.state import (
    CallbackQueryRecord,
    ChatRecord,
    FileRecord,
    StoredMessage,
    UserRecord,
)
from telegram_emulator.updates import UpdateQueue
from telegram_emulator.webhook import WebhookSender, WebhookSettings

if TYPE_CHECKING:
    from telegram import Update
    from telegram.ext import Application, CallbackContext

    from telegram_emulator.people import Group, Person

_LOGGER = logging.getLogger(__name__)
_TOKEN_FORMAT = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
DeliveryMode = Literal["direct", "webhook", "queue"]
# How Telegram is away: nothing listens, nothing answers in time, or its front answers 502.
Outage = Literal["refused", "timeout", "bad_gateway"]
BAD_GATEWAY = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
CommandScopeKey = tuple[str, int | None, int | None]


@dataclass(frozen=True)
class ApiCall:
    """One Bot API call the bot made, for tests that check what was called."""

    method: str
    params: dict[str, object]
    status: int
    result: object
    description: str | None


class TelegramAway(ConnectionError):
    """Telegram is down: the request never got an answer (refused, or timed out)."""

    def __init__(self, outage: Outage) -> None:
        super().__init__(f"Telegram is away ({outage})")
        self.outage = outage


class EmulatorHandlerError(RuntimeError):
    """A handler raised while processing an update delivered with ``raise_errors=True``."""


class TelegramEmulator:
    """An in-memory Telegram for one bot: Bot API methods plus people who use the bot.

    ``clock`` drives the flood limits, callback-query expiry and message dates, so tests move
    time with :class:`~telegram_emulator.clock.ManualClock` instead of sleeping.
    """

    def __init__(
        self,
        token: str = "123456:TEST",  # noqa: S107 -- a fake token for a fake Telegram
        bot_username: str = "loyalty_test_bot",
        *,
        bot_first_name: str = "Loyalty Test Bot",
        clock: Clock = time.monotonic,
        limits: RateLimits | None = None,
        start_time: dtm.datetime | None = None,
        callback_query_ttl: float = 15.0,
        webhook_retry_delay: float = 0.5,
        inaccessible_after: float | None = None,
    ) -> None:
        if not _TOKEN_FORMAT.match(token):
            raise ValueError(f"not a bot token: {token!r} (expected '<digits>:<secret>')")
        if start_time is not None and start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware")
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.clock = clock
        self.limits = limits or RateLimits()
        self.limiter = RateLimiter(self.limits, clock)
        self.callback_query_ttl = callback_query_ttl
        # Seconds after which the bot's messages are "otherwise inaccessible" (a callback on one
        # carries an InaccessibleMessage and edits fail); None: only deleted ones are.
        self.inaccessible_after = inaccessible_after
        self.outage: Outage | None = None
        self.back = asyncio.Event()  # set while Telegram answers; HTTP "timeout" waits on it
        self.back.set()
        start = start_time or dtm.datetime.now(dtm.UTC)
        self._epoch = start.timestamp()
        self._clock0 = clock()

        self.users: dict[int, UserRecord] = {}
        self.chats: dict[int, ChatRecord] = {}
        self.files: dict[str, FileRecord] = {}
        self.callback_queries: dict[str, CallbackQueryRecord] = {}
        self.commands: dict[tuple[CommandScopeKey, str], list[dict[str, str]]] = {}
        # setChatMenuButton: per private chat id, None for the default of every chat.
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.chat_actions: list[tuple[int, str, int | None]] = []
        self.calls: list[ApiCall] = []
        self.update_log: list[dict[str, Any]] = []
        self.handler_errors: list[BaseException] = []
        # Direct mode: awaited after each update was processed, e.g. to let the bot's send
        # queue deliver what the update queued, so an action returns with its effects visible.
        self.after_update: list[Callable[[], Awaitable[None]]] = []
        self.logged_out = False
        self._refusals: dict[str, list[ApiError]] = {}
        self.upgraded: dict[int, int] = {}  # old group id -> the supergroup it became

        self.updates = UpdateQueue()
        self.webhook = WebhookSettings()
        self.webhook_sender = WebhookSender(
            self.updates, self.webhook, self.unix_now, retry_delay=webhook_retry_delay
        )
        self._people: dict[int, Person] = {}
        self._groups: dict[int, Group] = {}
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._raise_errors = False
        self._ids = itertools.count(1)

    # -- time ------------------------------------------------------------------------------

    def unix_now(self) -> int:
        """Return the current unix time as the emulator sees it (start time + clock)."""
        return int(self._epoch + (self.clock() - self._clock0))

    def now(self) -> dtm.datetime:
        """Return the emulator's current time as an aware UTC datetime."""
        return dtm.datetime.fromtimestamp(self.unix_now(), dtm.UTC)

    # -- Telegram away and tokens ------------------------------------------------------------

    def go_down(self, outage: Outage = "refused") -> None:
        """Make every Bot API call fail the way ``outage`` says until :meth:`come_back`."""
        self.outage = outage
        self.back.clear()
        self.updates.release()  # a long poll under way ends, as its connection would

    def come_back(self) -> None:
        """End an outage: calls are answered again."""
        self.outage = None
        self.back.set()

    def refuse_next(self, method: str, description: str, code: int = 400) -> None:
        """Answer the next call to ``method`` with this error (a refusal the emulator has no
        rule for, e.g. Telegram changing its mind), then answer as usual again."""
        self._refusals.setdefault(method.lower(), []).append(ApiError(code, description))

    def revoke_token(self) -> str:
        """Revoke the bot's token (as @BotFather does): the old one gets 401; return the new.

        A long poll made with the old token is answered at once (empty): its next call is
        the one refused, as a client of Telegram sees it without waiting out its timeout."""
        self.token = f"{self.bot_id}:REVOKED{next(self._ids)}"
        self.updates.release()
        return self.token

    # -- the Bot API -----------------------------------------------------------------------

    @property
    def bot_user(self) -> dict[str, Any]:
        """Return the bot as a Bot API ``User`` object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    async def handle(
        self,
        token: str,
        method: str,
        params: Mapping[str, object],
        files: Mapping[str, Upload] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Run one Bot API request; return the HTTP status and the JSON body Telegram sends."""
        # Imported here: the method modules import this module for their type hints.
        from telegram_emulator.methods import METHODS

        if self.outage == "bad_gateway":
            return 502, dict(BAD_GATEWAY)
        if self.outage is not None:
            raise TelegramAway(self.outage)
        if token != self.token:
            # Telegram: 401 for a well-formed but unknown token, 404 for a malformed one.
            if _TOKEN_FORMAT.match(token):
                return 401, ApiError(401, errors.UNAUTHORIZED).payload()
            return 404, ApiError(404, errors.NOT_FOUND).payload()
        handler = METHODS.get(method.lower())  # Bot API method names are case-insensitive
        if handler is None:
            return 404, ApiError(404, errors.NOT_FOUND).payload()
        try:
            queued = self._refusals.get(method.lower())
            if queued:
                raise queued.pop(0)
            result = handler(self, Params(params, files))
            if inspect.isawaitable(result):
                result = await result
        except ApiError as exc:
            _LOGGER.debug("%s -> %s %s", method, exc.code, exc.description)
            self.calls.append(ApiCall(method, dict(params), exc.code, None, exc.description))
            return exc.code, exc.payload()
        self.calls.append(ApiCall(method, dict(params), 200, result, None))
        return 200, {"ok": True, "result": result}

    async def call(self, method: str, /, **params: object) -> Any:
        """Call a Bot API method directly; return its result or raise :class:`ApiError`."""
        status, body = await self.handle(self.token, method, params)
        if status != 200:
            raise ApiError(
                status, body["description"], body.get("parameters", {}).get("retry_after")
            )
        return body["result"]

    def calls_to(self, method: str) -> list[ApiCall]:
        """Return the calls made to one method (case-insensitive), oldest first."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    # -- chats and access rules used by the methods --------------------------------------------

    def find_chat(self, chat_id: int | str) -> ChatRecord:
        """Return the chat the bot knows by id or @username, or raise ``chat not found``."""
        if isinstance(chat_id, str):
            name = chat_id.removeprefix("@").lower()
            for known in self.chats.values():
                if known.username and known.username.lower() == name and known.is_group:
                    return known
            raise bad_request(errors.CHAT_NOT_FOUND)
        chat = self.chats.get(chat_id)
        if chat is None:
            if chat_id in self.upgraded:
                raise ApiError(
                    400, errors.GROUP_UPGRADED, migrate_to_chat_id=self.upgraded[chat_id]
                )
            raise bad_request(errors.CHAT_NOT_FOUND)
        return chat

    def writable_chat(self, chat_id: int | str) -> ChatRecord:
        """Return a chat the bot may post to, or raise the 400/403 Telegram answers."""
        chat = self.find_chat(chat_id)
        self.check_reachable(chat)
        return chat

    def check_reachable(self, chat: ChatRecord) -> None:
        """Raise 403 when the user blocked the bot, never started it, or the bot left."""
        if chat.user is not None:
            if chat.user.blocked:
                raise forbidden(errors.BLOCKED)
            if not chat.user.started:
                raise forbidden(errors.CANT_INITIATE)
        elif not chat.bot_member:
            raise forbidden(errors.NOT_A_MEMBER)

    def resolve_thread(self, chat: ChatRecord, thread_id: int | None) -> int | None:
        """Check a message_thread_id for sending; return the thread to store on the message."""
        if thread_id is None or not chat.is_group:
            return None  # private chats ignore message_thread_id
        if chat.is_forum:
            topic = chat.topics.get(thread_id)
            if topic is None or topic.deleted:
                raise bad_request(errors.THREAD_NOT_FOUND)
            if topic.closed and not (chat.bot_admin and chat.bot_can_manage_topics):
                # Admins with can_manage_topics may still post in a closed topic.
                raise bad_request(errors.TOPIC_CLOSED)
            return thread_id
        start = chat.messages.get(thread_id)
        if start is None or start.deleted:
            raise bad_request(errors.THREAD_NOT_FOUND)
        return thread_id

    def check_rate(self, chat: ChatRecord, *, paid: bool = False, edit: bool = False) -> None:
        """Raise 429 if one more message to ``chat`` breaks a flood limit right now."""
        if edit:
            wait = self.limiter.acquire_edit(chat.id, is_group=chat.is_group)
        else:
            wait = self.limiter.acquire(chat.id, is_group=chat.is_group, paid=paid)
        if wait is not None:
            raise errors.too_many_requests(wait)

    def store_message(
        self,
        chat: ChatRecord,
        *,
        sender: dict[str, Any] | None = None,
        kind: str = "text",
        **fields: Any,
    ) -> StoredMessage:
        """Create a message in ``chat`` (from the bot unless ``sender`` is given)."""
        message = StoredMessage(
            chat=chat,
            message_id=chat.new_message_id(),
            date=self.unix_now(),
            sender=sender or self.bot_user,
            from_bot=sender is None,
            kind=kind,
            **fields,
        )
        chat.messages[message.message_id] = message
        if message.from_bot and kind != "service":
            chat.activity.record(message.message_id)
        return message

    # -- files ----------------------------------------------------------------------------

    def new_file(self, kind: str, size: int = 0, **meta: Any) -> FileRecord:
        """Register a file and return it; ids look like Telegram's but say what they are."""
        n = next(self._ids)
        record = FileRecord(
            file_id=f"emu-{kind}-{n:06d}",
            file_unique_id=f"emu-u{n:06d}",
            kind=kind,
            size=size,
            meta=meta,
        )
        self.files[record.file_id] = record
        return record

    def new_photo(self, size: int = 0) -> FileRecord:
        """Register a photo in two sizes; return the largest, as clients pick ``photo[-1]``."""
        small = self.new_file("photo", max(1, size // 10), width=90, height=67)
        large = self.new_file("photo", size, width=1280, height=960)
        small.siblings = large.siblings = [small, large]
        return large

    def new_upload(self, kind: str, upload: Upload) -> FileRecord:
        """Register a file the bot uploaded, giving it a file_id like Telegram would."""
        if kind == "photo":
            return self.new_photo(len(upload.content))
        if kind == "voice":
            return self.new_file("voice", len(upload.content), duration=1, mime_type="audio/ogg")
        return self.new_file(
            "document",
            len(upload.content),
            file_name=upload.filename,
            mime_type=upload.mime_type or "application/octet-stream",
        )

    # -- callback queries -------------------------------------------------------------------

    def accessible(self, message: StoredMessage) -> bool:
        """Return whether the bot can still reach ``message`` (not deleted, not too old)."""
        if message.deleted:
            return False
        limit = self.inaccessible_after
        return limit is None or self.unix_now() - message.date < limit

    def callback_message(self, message: StoredMessage) -> dict[str, Any]:
        """Return what a callback query carries: the message, or an ``InaccessibleMessage``."""
        if self.accessible(message):
            return message.to_dict()
        return {"chat": message.chat.to_dict(), "message_id": message.message_id, "date": 0}

    def new_callback_query(
        self, user: UserRecord, message: StoredMessage, data: str | None
    ) -> CallbackQueryRecord:
        """Register a button press that the bot must answer within the TTL."""
        query = CallbackQueryRecord(
            id=str(4_000_000_000_000_000 + next(self._ids)),
            user_id=user.id,
            chat_id=message.chat.id,
            message_id=message.message_id,
            data=data,
            created=self.clock(),
        )
        self.callback_queries[query.id] = query
        return query

    # -- commands ---------------------------------------------------------------------------

    def commands_for(
        self, user_id: int, chat_id: int | None = None, language_code: str | None = None
    ) -> list[dict[str, str]]:
        """Return the command menu ``user_id`` sees in a chat, resolving scopes like Telegram."""
        chat_id = user_id if chat_id is None else chat_id
        chat = self.chats.get(chat_id)
        if chat is None or not chat.is_group:
            scopes: list[CommandScopeKey] = [
                ("chat", chat_id, None),
                ("all_private_chats", None, None),
                ("default", None, None),
            ]
        else:
            # Admin scopes are skipped: the emulator does not track group administrators.
            scopes = [
                ("chat_member", chat_id, user_id),
                ("chat", chat_id, None),
                ("all_group_chats", None, None),
                ("default", None, None),
            ]
        language = language_code or ""
        for scope in scopes:
            for lang in dict.fromkeys((language, "")):
                found = self.commands.get((scope, lang))
                if found:
                    return found
        return []

    # -- people (the test-facing side) -------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str = "Ann",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> Person:
        """Return the person with this id, creating them (and their private chat) if new."""
        from telegram_emulator.people import Person

        if user_id in self._people:
            return self._people[user_id]
        if user_id <= 0:
            raise ValueError("user ids are positive")
        record = UserRecord(user_id, first_name, last_name, username, language_code)
        self.users[user_id] = record
        self.chats[user_id] = ChatRecord(id=user_id, type="private", user=record)
        person = Person(self, record)
        self._people[user_id] = person
        return person

    def supergroup(
        self,
        chat_id: int,
        title: str = "Agents",
        *,
        forum: bool = False,
        members: list[Person] | tuple[Person, ...] = (),
        username: str | None = None,
        bot_admin: bool = True,
        bot_member: bool = True,
    ) -> Group:
        """Create a supergroup with the bot in it (an admin unless ``bot_admin=False``)."""
        from telegram_emulator.people import Group

        if chat_id >= 0:
            raise ValueError("supergroup ids are negative, like -100...")
        if chat_id in self.chats:
            raise ValueError(f"chat {chat_id} already exists")
        chat = ChatRecord(
            id=chat_id,
            type="supergroup",
            title=title,
            username=username,
            is_forum=forum,
            bot_admin=bot_admin,
            bot_member=bot_member,
            members={m.id for m in members},
        )
        self.chats[chat_id] = chat
        group = Group(self, chat)
        self._groups[chat_id] = group
        return group

    @property
    def groups(self) -> dict[int, Group]:
        """Return the supergroups created with :meth:`supergroup`, by chat id."""
        return dict(self._groups)

    def upgrade_group(self, group: Group, new_chat_id: int, *, forum: bool = True) -> Group:
        """Upgrade a group to a supergroup, as Telegram does when Topics are turned on: it
        gets ``new_chat_id``; calls naming the old id answer 400 with ``migrate_to_chat_id``."""
        if new_chat_id in self.chats or new_chat_id >= 0:
            raise ValueError(f"{new_chat_id} is not a free supergroup id")
        old = group.record.id
        record = self.chats.pop(old)
        record.id, record.is_forum = new_chat_id, forum
        self.chats[new_chat_id] = record
        self._groups[new_chat_id] = self._groups.pop(old)
        self.upgraded[old] = new_chat_id
        return self._groups[new_chat_id]

    def delete_topic(self, group: Group | int, thread_id: int) -> None:
        """Delete a forum topic as an agent would in the app: it and its messages vanish."""
        chat = self.chats[group if isinstance(group, int) else group.chat_id]
        topic = chat.topics.get(thread_id)
        if topic is None or topic.deleted:
            raise KeyError(f"no topic {thread_id} in chat {chat.id}")
        chat.delete_topic(topic)

    # -- delivery ---------------------------------------------------------------------------

    @property
    def delivery(self) -> DeliveryMode:
        """Return how updates reach the bot: handed over directly, by webhook, or queued."""
        if self._app is not None:
            return "direct"
        if self.webhook.url:
            return "webhook"
        return "queue"

    def connect(
        self, application: Application[Any, Any, Any, Any, Any, Any], *, raise_errors: bool = False
    ) -> None:
        """Deliver every update straight to ``application.process_update`` (direct mode).

        With ``raise_errors`` a person's action raises :class:`EmulatorHandlerError` when a
        handler failed; otherwise failures are only collected in :attr:`handler_errors`.
        """
        self.disconnect()
        self._app = application
        self._raise_errors = raise_errors
        application.add_error_handler(self._record_error)

    def disconnect(self) -> None:
        """Stop direct delivery; updates queue up for getUpdates or the webhook again."""
        if self._app is not None:
            self._app.remove_error_handler(self._record_error)
            self._app = None

    async def _record_error(
        self, update: object, context: CallbackContext[Any, Any, Any, Any]
    ) -> None:
        """Collect a handler's exception (registered as an error handler in direct mode)."""
        if context.error is not None:
            self.handler_errors.append(context.error)

    async def emit(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Create an update and deliver it the current way; return it."""
        update = {"update_id": self.updates.next_id(), kind: payload}
        self.update_log.append(update)
        app = self._app
        if app is None:
            self.updates.push(update)
            if self.webhook.url:
                self.webhook_sender.start()
            return update
        from telegram import Update

        before = len(self.handler_errors)
        parsed: Update = Update.de_json(update, app.bot)
        await app.process_update(parsed)
        for settle in list(self.after_update):
            await settle()
        if self._raise_errors and len(self.handler_errors) > before:
            error = self.handler_errors[before]
            raise EmulatorHandlerError(f"handler failed on {kind}: {error!r}") from error
        return update

    async def aclose(self) -> None:
        """Stop background work: webhook delivery and any waiting long polls."""
        self.updates.close()
        await self.webhook_sender.stop()

"""The send queue's sender: each chat's queued sends performed in order, none lost.

One worker per chat with pending sends (`storage/sends.py`), so chats never wait for each
other: the agents' group may wait a minute for its 20-a-minute budget while every member's
chat goes on. A worker takes its chat's oldest send, performs it (`handlers/delivery.py`) and
settles it before taking the next, so a relayed conversation keeps its order:

- 429: wait `retry_after` and send again, as often as Telegram asks; never dropped.
- Telegram unreachable or timing out: retry with backoff, `MAX_ATTEMPTS` attempts in all.
- A refusal for good (a 400, a 403, or a bug): the row is settled `failed` with the reason
  and `delivery.undelivered` tells whom it concerns.

A send is settled only after Telegram answered, so one cut off by a stop or a crash goes
again after the restart: at least once, never lost. Handlers wake the sender after queueing;
it also looks at the table every `poll` seconds, for sends queued by another process or left
by one that stopped. Time comes from a `Timer`, so tests run at Telegram's real limits on a
hand clock (`drain()`), and no wait takes real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, ChatMigrated, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

from bot.logs import kv
from bot.ratelimit import REAL_TIME, Timer, retry_seconds
from handlers import delivery
from handlers.agents import follow_agent_chat
from handlers.context import SERVICES_KEY
from handlers.services import Services
from storage import sends
from storage.sends import Send

log = logging.getLogger(__name__)
SEND_QUEUE_KEY = "send_queue"
MAX_ATTEMPTS = 5  # attempts that Telegram did not answer (network errors, timeouts)
LEASE = timedelta(minutes=2)  # how long a sender holds a chat's head send
POLL_SECONDS = 2.0
MAX_BACKOFF = 60.0

AnyApp = Application[Any, Any, Any, Any, Any, Any]


def backoff(attempts: int) -> float:
    """Return how long to wait before attempt `attempts + 1` after a network failure."""
    return min(MAX_BACKOFF, 2.0 ** max(0, attempts - 1))


class SendQueue:
    """Performs queued sends: one worker per chat, in order, 429s waited out."""

    def __init__(
        self,
        app: AnyApp,
        *,
        timer: Timer = REAL_TIME,
        lease: timedelta = LEASE,
        poll: float = POLL_SECONDS,
    ) -> None:
        self.app = app
        self.services: Services = app.bot_data[SERVICES_KEY]
        self.timer = timer
        self.lease = lease
        self.poll = poll
        self.claim_id = secrets.token_hex(8)
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self.services.wake_sender = self.wake

    def wake(self) -> None:
        """Look for new sends now (a handler queued one)."""
        self._wake.set()

    async def start(self) -> None:
        """Start sending in the background (the service)."""
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="send-queue")

    async def stop(self) -> None:
        """Stop sending; what is left stays queued for the next start (or another sender)."""
        tasks = [t for t in (self._runner, *self._workers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._runner = None

    async def drain(self) -> None:
        """Perform every queued send now, and what those queue in turn (tests, the demo)."""
        while True:
            await self._dispatch()
            if not self._workers:
                return
            await asyncio.gather(*list(self._workers.values()))

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._dispatch()
            except Exception:  # the database hiccuped: look again at the next poll
                log.exception("send queue not read", extra=kv(event="send_queue_read_failed"))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._wake.wait()

    async def _dispatch(self) -> None:
        """Start a worker for every chat with pending sends that has none."""
        for chat_id in await sends.waiting_chats(self.services.store, self.claim_id):
            if chat_id not in self._workers:
                self._workers[chat_id] = asyncio.create_task(
                    self._chat(chat_id), name=f"send-queue-{chat_id}"
                )

    async def _chat(self, chat_id: int) -> None:
        store = self.services.store
        try:
            while (send := await sends.head(store, chat_id, self.claim_id, self.lease)) is not None:
                await self._deliver(send)
        finally:
            self._workers.pop(chat_id, None)
            with contextlib.suppress(Exception):  # a stopping loop: the lease expires instead
                await asyncio.shield(sends.release(store, chat_id, self.claim_id))

    async def _deliver(self, send: Send) -> None:
        """Perform one send until it went out or failed for good."""
        store, bot = self.services.store, self.app.bot
        while True:
            try:
                await delivery.perform(bot, self.services, send)
            except RetryAfter as exc:
                # Telegram's flood limit: wait as told and send again, in order.
                wait = retry_seconds(exc)
                log.info(
                    "send waits",
                    extra=kv(event="send_flood_wait", kind=send.kind, retry_after=wait),
                )
                await self.timer.sleep(wait)
                continue
            except BadRequest as exc:  # a NetworkError subclass in PTB, but a refusal
                error: BaseException = exc
                counted = False
            except NetworkError as exc:  # unreachable, timed out: try again later
                attempts = await sends.retry(store, send.id, self.claim_id, type(exc).__name__)
                if attempts < MAX_ATTEMPTS:
                    await self.timer.sleep(backoff(attempts))
                    continue
                error, counted = exc, True
            except ChatMigrated as exc:
                # The agents' group became a supergroup with a new id (Topics turned on):
                # follow it once and send again there.
                if follow_agent_chat(self.services, exc.new_chat_id):
                    continue
                error, counted = exc, False
            except TelegramError as exc:  # Forbidden and the other refusals
                error, counted = exc, False
            except Exception as exc:  # a bug: record it, never hold the chat's queue forever
                log.exception("send crashed", extra=kv(event="send_crashed", kind=send.kind))
                error, counted = exc, False
            else:
                await sends.sent(store, send.id, self.claim_id)
                return
            reason = delivery.reason_of(error)
            await sends.failed(store, send.id, self.claim_id, reason, counted=counted)
            try:
                await delivery.undelivered(bot, self.services, send, error)
            except Exception:
                log.exception("failure not told", extra=kv(event="send_failure_untold"))
            return


def send_queue(app: AnyApp) -> SendQueue:
    """Return the application's send queue."""
    queue: SendQueue = app.bot_data[SEND_QUEUE_KEY]
    return queue

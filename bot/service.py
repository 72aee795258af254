"""The service process: shop API server, Telegram bot and scheduler in one asyncio loop.

Each part is an async context manager, entered in order and left in reverse, so a part
starts only on top of what it needs and stops before it: the store opens first and closes
last; the bot (with its scheduler) starts before the HTTP server takes requests (a webhook
update needs a running bot) and stops after the server stopped taking them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import FrameType
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.api import build_api
from bot.api.server import Listening, http_server
from bot.application import build_application, start_up
from bot.config import Config, secret
from bot.jobs import schedule_jobs
from bot.logs import kv, setup_logging
from bot.store import open_store
from storage.store import Store

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopper:
    """Turns SIGINT/SIGTERM into a stop request; a second signal forces a faster stop."""

    def __init__(self, event: asyncio.Event | None = None) -> None:
        self.event = event or asyncio.Event()
        self.on_force: list[Callable[[], None]] = []

    def request(self, signum: int | None = None) -> None:
        """Ask the service to stop (again: stop without waiting for requests in flight)."""
        name = signal.Signals(signum).name if signum else "request"
        if self.event.is_set():
            log.warning("stopping now", extra=kv(event="stopping_now", signal=name))
            for force in self.on_force:
                force()
            return
        log.info("stopping", extra=kv(event="stopping", signal=name))
        self.event.set()

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Handle SIGINT/SIGTERM in the loop while the block runs (main thread only).

        Plain `signal.signal` handlers, not `loop.add_signal_handler`: uvicorn's server takes
        these signals while it serves and raises them again once it has stopped, and a loop
        handler would hear each one twice (through the loop's wakeup fd, then again).
        """
        loop = asyncio.get_running_loop()

        def handle(signum: int, frame: FrameType | None) -> None:
            loop.call_soon_threadsafe(self.request, signum)  # run in the loop, not mid-step

        previous: dict[int, Any] = {}
        try:
            for signum in STOP_SIGNALS:
                try:
                    previous[signum] = signal.signal(signum, handle)
                except ValueError:
                    continue  # not the main thread: stop via the event
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


@contextlib.asynccontextmanager
async def running_bot(
    config: Config, store: Store, token: str
) -> AsyncIterator[tuple[Application, Callable[[dict[str, Any]], Awaitable[None]] | None]]:
    """Run the Telegram bot (polling, or webhook updates pushed by the API server) and its jobs.

    Yields the application and, in webhook mode, the callable the API server hands updates to.
    """
    app = build_application(config, store, token=token)
    schedule_jobs(app, config)
    webhook = config.telegram.mode == "webhook"
    async with app:  # initialize() ... shutdown()
        await start_up(app)
        if webhook:
            secret_token = secret(config.telegram.webhook_secret_env, "telegram.webhook_secret_env")
            await app.bot.set_webhook(
                config.telegram.webhook_url,
                secret_token=secret_token,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            await app.bot.delete_webhook()
            assert app.updater is not None
            await app.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        await app.start()  # processes the update queue and starts the JobQueue
        log.info(
            "bot running",
            extra=kv(event="bot_running", mode=config.telegram.mode, username=app.bot.username),
        )

        async def push(update: dict[str, Any]) -> None:
            await app.update_queue.put(Update.de_json(update, app.bot))

        try:
            yield app, (push if webhook else None)
        finally:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            await app.stop()
            log.info("bot stopped", extra=kv(event="bot_stopped"))


async def serve(
    config: Config,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Listening], None] | None = None,
) -> None:
    """Run the service until SIGINT/SIGTERM (or until `stop` is set), then stop cleanly.

    A missing secret or database fails before anything starts, with one clear error.
    """
    setup_logging()
    api_key = secret(config.server.api_key_env, "server.api_key_env")
    token = secret(config.telegram.token_env, "telegram.token_env")
    webhook_secret = (
        secret(config.telegram.webhook_secret_env, "telegram.webhook_secret_env")
        if config.telegram.mode == "webhook"
        else None
    )
    stopper = Stopper(stop)
    with stopper.signals():
        async with contextlib.AsyncExitStack() as parts:
            store = await parts.enter_async_context(open_store(config))
            app, push = await parts.enter_async_context(running_bot(config, store, token))
            api = build_api(
                config,
                store,
                api_key=api_key,
                bot_username=config.telegram.bot_username or app.bot.username,
                telegram_webhook=push,
                webhook_secret=webhook_secret,
            )
            listening = await parts.enter_async_context(
                http_server(api, config.server.host, config.server.port)
            )
            stopper.on_force.append(listening.stop_now)
            log.info(
                "listening",
                extra=kv(
                    event="listening",
                    host=listening.host,
                    port=listening.port,
                    db=config.storage.describe(),
                ),
            )
            if on_ready is not None:
                on_ready(listening)
            await stopper.event.wait()
    log.info("stopped", extra=kv(event="stopped"))

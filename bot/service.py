"""The service process: shop API server, Telegram bot and scheduler in one asyncio loop.

A process runs one role (docs/scaling.md): `all`, every part, one process as before; `web`,
the shop API and the Telegram webhook with the handlers, several behind a balancer; or
`scheduler`, the jobs and the outbox sender without a server, several of which may run with
one leading (bot/leader.py).

Each part is an async context manager, entered in order and left in reverse, so a part
starts only on top of what it needs and stops before it: the store opens first and closes
last; the bot (with its scheduler) starts before the HTTP server takes requests (a webhook
update needs a running bot) and stops after the server stopped taking them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from types import FrameType
from typing import Any

from telegram import Bot, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

from bot.api.app import build_api
from bot.api.context import MalformedUpdate
from bot.api.server import Listening, http_server
from bot.application import build_application, start_up
from bot.budget import ROLES
from bot.config import Config, ConfigError, secret
from bot.jobs import schedule_jobs, scheduler
from bot.logs import kv, setup_logging
from bot.sender import send_queue
from bot.store import open_store
from bot.telegram_link import TelegramStatus, connect
from handlers import telegram_errors
from handlers.context import SERVICES_KEY
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


def settle_the_heap() -> None:
    """Move what start-up built (modules, the bot, the app: ~70,000 objects) out of the
    garbage collector's reach, once, before the first request.

    They live as long as the process, yet every full collection walked them all, in the
    event loop: 40 ms alone on the 2-core VM, 200 ms when other work shares it
    (bench/http_mixed.py --diagnose). `gc.freeze()` is the standard library's way; what is
    created afterwards is collected as before.
    """
    gc.collect()
    gc.freeze()


def parse_update(data: dict[str, Any], bot: Bot) -> Update:
    """Read a webhook body as an Update; MalformedUpdate when PTB cannot read its fields."""
    try:
        return Update.de_json(data, bot)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # What de_json raises on a field of the wrong type ("message": 5) or a missing one.
        raise MalformedUpdate(f"{type(exc).__name__} reading its fields") from None


@contextlib.asynccontextmanager
async def running_bot(
    config: Config,
    store: Store,
    token: str,
    status: TelegramStatus | None = None,
    role: str = "all",
) -> AsyncIterator[tuple[Application, Callable[[dict[str, Any]], Awaitable[None]] | None]]:
    """Run the Telegram bot (polling, or webhook updates pushed by the API server) and its jobs.

    Yields the application and, in webhook mode, the callable the API server hands updates to.
    Yields at once: the scheduler runs from the start, and the bot comes up in the background
    as soon as Telegram answers (`bot.telegram_link.connect`), without holding up the shop API.
    A `web` process runs no jobs; a `scheduler` process takes no updates (it neither polls nor
    touches the webhook the web workers set).
    """
    app = build_application(config, store, token=token, status=status, role=role)
    if role != "web":
        schedule_jobs(app, config)
    webhook = config.telegram.mode == "webhook" and role != "scheduler"
    secret_token = (
        secret(config.telegram.webhook_secret_env, "telegram.webhook_secret_env")
        if webhook
        else None
    )

    async def start() -> None:
        """Bring the bot up; safe to run again after a partial success."""
        await app.initialize()  # getMe; a no-op once it succeeded
        await start_up(app)
        if webhook:
            await app.bot.set_webhook(
                config.telegram.webhook_url,
                secret_token=secret_token,
                allowed_updates=Update.ALL_TYPES,
            )
        elif role != "scheduler":
            await app.bot.delete_webhook()
            assert app.updater is not None
            if not app.updater.running:
                # Errors while polling only change the link's state (logged once per change
                # by WatchedRequest); PTB's default would log each failed poll with a traceback.
                await app.updater.start_polling(
                    allowed_updates=Update.ALL_TYPES, error_callback=_polling_error
                )
        if not app.running:
            await app.start()  # processes the update queue (the JobQueue already runs)
            if role != "scheduler":
                # Queued sends (storage/sends.py) are the web workers' to perform, within their
                # share of the budget; a standby scheduler would otherwise send on top of it.
                await send_queue(app).start()
        log.info(
            "bot running",
            extra=kv(
                event="bot_running",
                mode=config.telegram.mode,
                username=app.bot.username,
                role=role,
            ),
        )

    async def push(update: dict[str, Any]) -> None:
        await app.update_queue.put(parse_update(update, app.bot))

    assert app.job_queue is not None
    await app.job_queue.start()  # the scheduler does not wait for Telegram
    connecting = asyncio.create_task(connect(start), name="telegram-connect")
    connecting.add_done_callback(_report_start_failure)
    try:
        yield app, (push if webhook else None)
    finally:
        connecting.cancel()
        # A failure of its own was logged when it happened (_report_start_failure).
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await connecting
        if app.updater is not None and app.updater.running:
            # A poll that ended on a revoked token re-raises here; it was logged (by PTB and
            # as the link's state) and is why the service stops: it must not break the stop.
            with contextlib.suppress(TelegramError):
                await app.updater.stop()
        if app.running:
            await send_queue(app).stop()
            await app.stop()
        else:
            await app.job_queue.stop()
        if role != "web":
            # A clean stop hands the lead over at a standby's next heartbeat, not after the
            # lease runs out.
            leadership = scheduler(app).leadership
            if leadership is not None:
                await leadership.resign()
        await app.shutdown()  # a no-op unless the bot came up...
        await app.bot.shutdown()  # ...so the HTTP client is closed here in any case
        log.info("bot stopped", extra=kv(event="bot_stopped"))


def _report_start_failure(task: asyncio.Task[None]) -> None:
    """Log why the bot could not come up (a rejected token is the link's own log line)."""
    if task.cancelled() or task.exception() is None:
        return
    error = task.exception()
    if not isinstance(error, InvalidToken):
        log.error("bot start failed", extra=kv(event="bot_start_failed"), exc_info=error)


def _polling_error(error: TelegramError) -> None:
    """Take a failed poll quietly: the link's state says Telegram is away (PTB retries).

    Counted by kind for /metrics (`loyalty_telegram_errors_total`).
    """
    telegram_errors.count(error)


def session_secret(config: Config) -> bytes | None:
    """Return the console's cookie secret from its environment variable (None: a random one)."""
    value = os.environ.get(config.web.session_secret_env, "")
    if not value:
        log.warning(
            "console sessions end when the service stops",
            extra=kv(event="no_session_secret", variable=config.web.session_secret_env),
        )
        return None
    return value.encode()


async def serve(
    config: Config,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Listening], None] | None = None,
    role: str = "all",
) -> None:
    """Run the service in `role` until SIGINT/SIGTERM (or until `stop` is set), then stop cleanly.

    A missing secret or database, or a role the config cannot run, fails before anything
    starts, with one clear error.
    """
    setup_logging()
    if role not in ROLES:
        raise ConfigError([f"unknown role {role!r}; one of {', '.join(ROLES)}"])
    if role == "web" and config.telegram.mode != "webhook":
        # Several processes cannot poll one bot: Telegram ends each getUpdates with 409.
        raise ConfigError(['--role web needs telegram.mode = "webhook"'])
    if role == "scheduler":  # no server: the shop's key is not needed
        await _serve_scheduler(config, secret(config.telegram.token_env, "telegram.token_env"))
        return
    api_key = secret(config.server.api_key_env, "server.api_key_env")
    token = secret(config.telegram.token_env, "telegram.token_env")
    webhook_secret = (
        secret(config.telegram.webhook_secret_env, "telegram.webhook_secret_env")
        if config.telegram.mode == "webhook"
        else None
    )
    stopper = Stopper(stop)
    status = TelegramStatus()
    with stopper.signals():
        async with contextlib.AsyncExitStack() as parts:
            store = await parts.enter_async_context(open_store(config))
            app, push = await parts.enter_async_context(
                running_bot(config, store, token, status, role)
            )
            services = app.bot_data[SERVICES_KEY]
            api = build_api(
                config,
                store,
                api_key=api_key,
                bot_username=lambda: services.bot_username or "",
                telegram_webhook=push,
                webhook_secret=webhook_secret,
                telegram=lambda: status.state,
                bot_token=token,
                session_secret=session_secret(config),
            )
            listening = await parts.enter_async_context(
                http_server(api, config.server.host, config.server.port)
            )
            stopper.on_force.append(listening.stop_now)
            settle_the_heap()
            log.info(
                "listening",
                extra=kv(
                    event="listening",
                    host=listening.host,
                    port=listening.port,
                    role=role,
                    db=config.storage.describe(),
                ),
            )
            if on_ready is not None:
                on_ready(listening)
            await _first(stopper.event.wait(), status.rejected.wait())
    log.info("stopped", extra=kv(event="stopped"))
    if status.rejected.is_set():
        # Nothing will make Telegram take this token: stop, with one line for the operator.
        raise ConfigError(
            [
                f"Telegram rejected the bot token in {config.telegram.token_env} "
                "(named by telegram.token_env)"
            ]
        )


async def _serve_scheduler(config: Config, token: str, stop: asyncio.Event | None = None) -> None:
    """Run the jobs and the outbox sender (no HTTP server, no updates) until asked to stop."""
    stopper = Stopper(stop)
    status = TelegramStatus()
    with stopper.signals():
        async with (
            open_store(config) as store,
            running_bot(config, store, token, status, "scheduler"),
        ):
            log.info(
                "scheduler running",
                extra=kv(event="scheduler_running", db=config.storage.path),
            )
            await _first(stopper.event.wait(), status.rejected.wait())
    log.info("stopped", extra=kv(event="stopped"))
    if status.rejected.is_set():
        raise ConfigError(
            [
                f"Telegram rejected the bot token in {config.telegram.token_env} "
                "(named by telegram.token_env)"
            ]
        )


async def _first(*waits: Coroutine[Any, Any, Any]) -> None:
    """Return once the first of `waits` is done; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()

"""The service process: shop API server, Telegram bot and scheduler in one asyncio loop.

Each part is an async context manager, entered in order and left in reverse, so a part
starts only on top of what it needs and stops before it: the store opens first and closes
last; the HTTP server stops taking requests before the store closes. The Telegram bot and the
scheduler join as two more components between the store and the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterator

from bot.api import build_api
from bot.api.server import Listening, http_server
from bot.cli_commands import bot_username, open_store
from bot.config import Config, secret
from bot.logs import kv, setup_logging
from storage.errors import OperationError

log = logging.getLogger("bot.service")

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
            log.warning("stopping now", extra=kv(signal=name))
            for force in self.on_force:
                force()
            return
        log.info("stopping", extra=kv(signal=name))
        self.event.set()

    @contextlib.contextmanager
    def signals(self) -> Iterator[None]:
        """Handle SIGINT/SIGTERM in the loop while the block runs (main thread only)."""
        loop = asyncio.get_running_loop()
        installed = []
        try:
            for signum in STOP_SIGNALS:
                try:
                    loop.add_signal_handler(signum, self.request, signum)
                except (NotImplementedError, RuntimeError, ValueError):
                    continue  # not the main thread, or no signals here: stop via the event
                installed.append(signum)
            yield
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)


async def resolve_bot_username(config: Config) -> str:
    """Return the bot's username for deep links: configured, else getMe with the token.

    Empty when neither works: the API still serves, and link tokens answer 503 saying why.
    """
    if config.telegram.bot_username:
        return config.telegram.bot_username
    if not os.environ.get(config.telegram.token_env):
        log.warning(
            "bot username unknown; link tokens answer 503",
            extra=kv(fix="set telegram.bot_username or the bot token"),
        )
        return ""
    try:
        return await bot_username(config)
    except OperationError as exc:
        log.warning("bot username unknown; link tokens answer 503", extra=kv(reason=exc.message))
        return ""


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
    stopper = Stopper(stop)
    with stopper.signals():
        async with contextlib.AsyncExitStack() as parts:
            store = await parts.enter_async_context(open_store(config))
            app = build_api(
                config,
                store,
                api_key=api_key,
                bot_username=await resolve_bot_username(config),
            )
            # The Telegram bot and the scheduler start here, before the server takes requests.
            listening = await parts.enter_async_context(
                http_server(app, config.server.host, config.server.port)
            )
            stopper.on_force.append(listening.stop_now)
            log.info("listening", extra=kv(host=listening.host, port=listening.port,
                                           db=config.storage.path))  # fmt: skip
            if on_ready is not None:
                on_ready(listening)
            await stopper.event.wait()
    log.info("stopped")

"""The bot's link to Telegram: what Telegram last answered, and bringing the bot up while it
is away.

Every Bot API call goes through `WatchedRequest`, which notes in `TelegramStatus` whether
Telegram answered (`ok`), did not (`unreachable`: refused, timed out, a 5xx from its front) or
rejected the token (`unauthorized`). The status logs one line when it changes, never one per
failed call, and `/healthz` reports it. `connect` brings the bot up (getMe, command menus,
webhook or polling) and retries with backoff while Telegram does not answer, so the shop API
and the scheduler never wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Literal

from telegram.error import BadRequest, InvalidToken, NetworkError, RetryAfter
from telegram.request import BaseRequest, RequestData

from bot.logs import kv

log = logging.getLogger(__name__)

TelegramState = Literal["ok", "unreachable", "unauthorized"]
# Seconds between attempts to bring the bot up; the last one repeats.
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
Sleep = Callable[[float], Awaitable[None]]


class TelegramStatus:
    """What Telegram answered last; logs one line per change of state."""

    def __init__(self) -> None:
        # Nothing heard yet counts as unreachable: the bot cannot act until Telegram answers.
        self.state: TelegramState = "unreachable"
        self._heard = False
        self.rejected = asyncio.Event()  # set once Telegram refused the token

    def record(self, state: TelegramState, error: str | None = None) -> None:
        """Note the outcome of one call; log if the state changed (or is the first heard)."""
        changed = state != self.state or not self._heard
        self.state, self._heard = state, True
        if state == "unauthorized":
            self.rejected.set()
        if not changed:
            return
        if state == "ok":
            log.info("telegram reachable", extra=kv(event="telegram_state", state=state))
        elif state == "unreachable":
            log.warning(
                "telegram unreachable", extra=kv(event="telegram_state", state=state, error=error)
            )
        else:
            log.error("telegram rejected the token", extra=kv(event="telegram_state", state=state))


class WatchedRequest(BaseRequest):
    """A `BaseRequest` that passes every call to `inner` and notes Telegram's answer."""

    def __init__(self, inner: BaseRequest, status: TelegramStatus) -> None:
        self._inner = inner
        self._status = status

    @property
    def read_timeout(self) -> float | None:
        """Return the wrapped request's default read timeout."""
        return self._inner.read_timeout

    async def initialize(self) -> None:
        """Initialise the wrapped request."""
        await self._inner.initialize()

    async def shutdown(self) -> None:
        """Shut the wrapped request down."""
        await self._inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make the call through the wrapped request; note whether Telegram answered.

        The timeouts are PTB's float, None or `DEFAULT_NONE`, passed on as they came (typed
        `object`: PTB's alias for them lives in a private module).
        """
        try:
            code, payload = await self._inner.do_request(
                url,
                method,
                request_data,
                read_timeout,  # type: ignore[arg-type]
                write_timeout,  # type: ignore[arg-type]
                connect_timeout,  # type: ignore[arg-type]
                pool_timeout,  # type: ignore[arg-type]
            )
        except Exception as exc:
            self._status.record("unreachable", type(exc).__name__)
            raise
        if code >= 500:
            self._status.record("unreachable", f"HTTP {code}")
        elif code in (401, 404) and method == "POST":
            # Telegram answers 401 to an unknown token and 404 to a malformed one (every
            # method the bot calls exists); file downloads (GET) may 404 for other reasons.
            self._status.record("unauthorized")
        else:
            self._status.record("ok")
        return code, payload


async def connect(start: Callable[[], Awaitable[None]], *, sleep: Sleep = asyncio.sleep) -> None:
    """Run `start` (bring the bot up) until it succeeds, waiting longer after each failure.

    `start` must be safe to run again after a partial success. A rejected token is raised
    (nothing will change it); a 400 is a bug, raised too; anything else Telegram does to say
    it is away (unreachable, timed out, 5xx, throttled) is waited out.
    """
    attempt = 0
    while True:
        try:
            await start()
            return
        except (InvalidToken, BadRequest):
            raise
        except RetryAfter as exc:
            wait = exc.retry_after
            delay = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        except NetworkError as exc:
            delay = BACKOFF[min(attempt, len(BACKOFF) - 1)]
            log.debug(
                "bot start failed", extra=kv(event="bot_start_retry", error=type(exc).__name__)
            )
        attempt += 1
        await sleep(delay)

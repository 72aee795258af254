"""What the console's overview says about Telegram: asked at most every half minute."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from telegram import Bot
from telegram.error import Forbidden, InvalidToken, TelegramError

from bot.web.context import Health

CHECK_SECONDS = 30.0
TIMEOUT = 3.0


def telegram_health(bot: Bot, clock: Callable[[], float] = time.monotonic) -> Health:
    """Return a `Health` that reports Telegram as ok, unauthorized or unreachable (getMe)."""
    last: dict[str, float | str] = {}

    async def check() -> dict[str, str]:
        now = clock()
        if "at" not in last or now - float(last["at"]) >= CHECK_SECONDS:
            try:
                async with asyncio.timeout(TIMEOUT):
                    await bot.get_me()
                state = "ok"
            except (InvalidToken, Forbidden):
                state = "unauthorized"
            except (TelegramError, TimeoutError):
                state = "unreachable"
            last.update(at=now, state=state)
        return {"telegram": str(last["state"])}

    return check

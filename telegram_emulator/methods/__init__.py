"""Bot API methods, registered by name; each takes the emulator and the request's Params."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from telegram_emulator.core import TelegramEmulator
    from telegram_emulator.params import Params

Handler = Callable[["TelegramEmulator", "Params"], Any | Awaitable[Any]]
METHODS: dict[str, Handler] = {}


def api_method(name: str) -> Callable[[Handler], Handler]:
    """Register a function as the Bot API method ``name``."""

    def register(handler: Handler) -> Handler:
        """Add ``handler`` to the registry."""
        METHODS[name.lower()] = handler
        return handler

    return register


# Importing the modules registers their methods.
from telegram_emulator.methods import (  # noqa: E402
    bot_info,
    callbacks,
    chats,
    commands,
    delivery,
    media,
    messages,
    topics,
)

__all__ = [
    "METHODS",
    "api_method",
    "bot_info",
    "callbacks",
    "chats",
    "commands",
    "delivery",
    "media",
    "messages",
    "topics",
]

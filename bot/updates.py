"""Updates of different chats handled side by side, each chat's strictly in order.

PTB handles one update at a time by default, so one member's answer that waits for their own
chat's flood limit (a 429 waited out) would hold every other member too; its
`concurrent_updates` lets all updates overlap, which reorders one chat's own messages (a
member's quick "hello" and "where are my points?" could reach the agents swapped). This
processor takes the middle way: one lock per chat, FIFO, so a chat's updates run in the
order they came and chats never wait for each other (up to `max_concurrent_updates`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

MAX_CONCURRENT = 256


class PerChatUpdates(BaseUpdateProcessor):
    """Process updates concurrently across chats and in order within one chat."""

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT) -> None:
        super().__init__(max_concurrent_updates)
        # Weak values: a chat's lock lives while an update of it waits or runs.
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the update's handlers once the earlier updates of its chat are done."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.get(chat.id)
        if lock is None:
            lock = self._locks[chat.id] = asyncio.Lock()
        async with lock:
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to close."""

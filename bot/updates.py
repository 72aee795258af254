"""Updates of different chats are handled side by side; one chat's updates, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Hashable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# Updates in progress at once (PTB's own default for concurrent updates is 256). Beyond it,
# updates wait in PTB's queue, as all of them did when updates ran one at a time.
MAX_CONCURRENT_UPDATES = 64


def chat_key(update: object) -> Hashable:
    """Return what orders an update: its chat, else its sender, else one shared key."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return ("chat", update.effective_chat.id)
        if update.effective_user is not None:
            return ("user", update.effective_user.id)
    return ("other",)


class ChatOrderedUpdateProcessor(BaseUpdateProcessor):
    """Handle updates concurrently across chats and strictly in order within a chat.

    A member's taps must be handled in the order they were made (a Confirm after the screen it
    confirms, a message after the one before it in a support ticket), and so must the agents'
    group. But one member's write waiting for the disk (SQLite's fsync at COMMIT takes 2-30 ms
    on a shared server) must not hold every other member's /me behind it, which is what
    handling all updates one at a time did. The store keeps balances exact whatever runs side
    by side: every operation is one transaction on its single writer.
    """

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._holders: dict[Hashable, int] = {}  # updates using each lock, to drop it after

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the update once every earlier update of its chat is done."""
        key = chat_key(update)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        self._holders[key] = self._holders.get(key, 0) + 1
        try:
            async with lock:  # asyncio.Lock wakes its waiters first come, first served
                await coroutine
        finally:
            self._holders[key] -= 1
            if not self._holders[key]:
                del self._holders[key], self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release: PTB waits for the updates in progress itself."""

    @property
    def chats_in_progress(self) -> int:
        """Return how many chats have an update running or waiting."""
        return len(self._locks)

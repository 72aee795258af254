"""The queue of updates not yet confirmed by the bot, shared by getUpdates and the webhook."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from telegram_emulator import errors
from telegram_emulator.errors import ApiError

# Telegram leaves these out unless asked for by name in allowed_updates.
_OPT_IN = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def update_type(update: dict[str, Any]) -> str:
    """Return the kind of an update: ``message``, ``callback_query``, ..."""
    return next(key for key in update if key != "update_id")


class UpdateQueue:
    """Pending updates in order; a getUpdates offset or a webhook delivery confirms them."""

    def __init__(self, first_update_id: int = 100_000_001) -> None:
        self.pending: list[dict[str, Any]] = []
        self.allowed_updates: list[str] = []
        self._next_id = first_update_id
        self._changed = asyncio.Event()
        self._poller: object | None = None
        self._terminated: set[object] = set()
        self._released: set[object] = set()
        self._closing = False

    def next_id(self) -> int:
        """Allocate the next update_id; ids only grow."""
        update_id, self._next_id = self._next_id, self._next_id + 1
        return update_id

    def wanted(self, kind: str) -> bool:
        """Return whether the bot's allowed_updates let an update of this kind through."""
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in _OPT_IN

    def push(self, update: dict[str, Any]) -> bool:
        """Queue an update; return False if allowed_updates filters it out."""
        if not self.wanted(update_type(update)):
            return False
        self.pending.append(update)
        self._pulse()
        return True

    def confirm(self, offset: int) -> None:
        """Forget updates below ``offset``; a negative offset keeps only the last -offset."""
        if offset < 0:
            del self.pending[: max(0, len(self.pending) + offset)]
        else:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]

    def drop_all(self) -> None:
        """Forget every pending update (``drop_pending_updates``)."""
        self.pending.clear()

    def set_allowed(self, allowed: Sequence[str] | None) -> None:
        """Remember allowed_updates; Telegram keeps the last list it was given."""
        if allowed is not None:
            self.allowed_updates = list(allowed)

    async def wait_for_pending(self) -> None:
        """Wait until at least one update is pending (used by the webhook sender)."""
        while not self.pending:
            await self._wait_changed()

    async def get(
        self,
        offset: int | None,
        limit: int,
        timeout: float,  # noqa: ASYNC109 -- getUpdates' own timeout parameter
    ) -> list[dict[str, Any]]:
        """Serve getUpdates: confirm by offset, then return pending updates or long-poll."""
        if offset is not None:
            self.confirm(offset)
        me = object()
        if self._poller is not None:
            # A second getUpdates ends the first with 409, as Telegram does.
            self._terminated.add(self._poller)
        self._poller = me
        self._pulse()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                if me in self._terminated:
                    self._terminated.discard(me)
                    raise ApiError(409, errors.TERMINATED_BY_OTHER)
                remaining = deadline - loop.time()
                released = me in self._released
                self._released.discard(me)
                if self.pending or remaining <= 0 or self._closing or released:
                    return self.pending[:limit]
                try:
                    async with asyncio.timeout(remaining):
                        await self._wait_changed()
                except TimeoutError:
                    return self.pending[:limit]
        finally:
            if self._poller is me:
                self._poller = None

    def release(self) -> None:
        """Answer the waiting long poll now, e.g. before the HTTP server stops."""
        if self._poller is not None:
            self._released.add(self._poller)
            self._pulse()

    def close(self) -> None:
        """Answer every waiting long poll now (the server is going away)."""
        self._closing = True
        self._pulse()

    def _pulse(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait_changed(self) -> None:
        await self._changed.wait()

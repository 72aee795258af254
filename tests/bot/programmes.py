"""Run the bot on another programme than the default fixture's (a preset, a zone, overrides)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.config import Config
from loyalty.clock import ManualClock
from storage.store import Store
from telegram_emulator import TelegramEmulator
from tests.bot.conftest import running_app
from tests.conftest import open_store


@asynccontextmanager
async def running(
    config: Config, tmp_path: Path, clock: ManualClock, emu: TelegramEmulator
) -> AsyncIterator[Store]:
    """Build the real application for `config` on the emulator; yield its store."""
    store = await open_store(tmp_path / f"{config.program.preset}.db", config.program, clock)
    try:
        async with running_app(emu, store, config):
            yield store
    finally:
        await store.close()

"""Fixtures: an emulator on a manual clock and the sample bot connected to it directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from telegram import Bot
from telegram.error import TelegramError
from telegram.ext import Application

from telegram_emulator import ManualClock, Person, RateLimits, TelegramEmulator
from tests.emulator.sample_bot import add_handlers, builder

AGENTS = -1001000000001


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def limits() -> RateLimits:
    return RateLimits()


@pytest.fixture
async def emu(clock: ManualClock, limits: RateLimits) -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(clock=clock, limits=limits)
    yield emulator
    await emulator.aclose()


@pytest.fixture
async def app(emu: TelegramEmulator) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    application = builder(emu).build()
    add_handlers(application, agents=AGENTS)
    emu.connect(application, raise_errors=True)
    async with application:
        yield application


@pytest.fixture
def bot(app: Application[Any, Any, Any, Any, Any, Any]) -> Bot:
    return app.bot


@pytest.fixture
def ann(emu: TelegramEmulator) -> Person:
    return emu.user(1001, "Ann", username="ann", language_code="en")


def ptb_message(error_type: type[TelegramError], description: str) -> str:
    """Return the message PTB gives an exception built from Telegram's description."""
    return error_type(description).message


def assert_last_error(emu: TelegramEmulator, status: int, description: str) -> None:
    """Check the emulator answered the last call with exactly this status and description."""
    call = emu.calls[-1]
    assert (call.status, call.description) == (status, description)


@contextmanager
def api_error(
    emu: TelegramEmulator, error_type: type[TelegramError], status: int, description: str
) -> Iterator[None]:
    """Expect a PTB exception of ``error_type`` carrying Telegram's ``description``."""
    with pytest.raises(error_type) as caught:
        yield
    assert type(caught.value) is error_type
    assert caught.value.message == ptb_message(error_type, description)
    assert_last_error(emu, status, description)


@pytest.fixture
async def started(ann: Person, app: Application[Any, Any, Any, Any, Any, Any]) -> Person:
    """Ann after she wrote /start, so the bot may message her."""
    await ann.send("/start")
    return ann

"""Fixtures for member conversations: the real Application on the Telegram emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram.ext import Application

from bot.application import build_application, start_up
from bot.config import Config, parse_config
from storage import links
from storage.store import Store
from telegram_emulator import EmulatorRequest, Person, RateLimits, TelegramEmulator
from telegram_emulator import ManualClock as EmulatorClock
from tests.conftest import StoreOpener, member

SHOP = {"name": "Demo Shop", "account_url": "https://shop.example/account",
        "signup_url": "https://shop.example/signup?ref={code}"}  # fmt: skip


def make_config(preset: str = "marketplace", timezone: str = "UTC", **sections: Any) -> Config:
    raw: dict[str, Any] = {
        "program": {"preset": preset, "timezone": timezone},
        "shop": SHOP,
        "telegram": {"bot_username": "loyalty_test_bot"},
        **sections,
    }
    return parse_config(raw)


@pytest.fixture
def config() -> Config:
    return make_config()


@pytest.fixture
async def bot_store(stores: StoreOpener, config: Config) -> Store:
    return await stores.open(config.program, "bot")


# Conversations here go at test speed, not a person's: a private chat's burst allowance is
# raised so a long conversation is not throttled. The limits themselves are tested with the
# emulator's defaults in test_telegram_errors.py.
CONVERSATION_LIMITS = RateLimits(private_burst=100)


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(
        bot_username="loyalty_test_bot", clock=EmulatorClock(), limits=CONVERSATION_LIMITS
    )
    yield emulator
    await emulator.aclose()


@pytest.fixture
async def app(
    emu: TelegramEmulator, bot_store: Store, config: Config
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    application = build_application(config, bot_store, EmulatorRequest(emu), token=emu.token)
    emu.connect(application, raise_errors=True)
    async with application:
        await start_up(application)
        yield application


@pytest.fixture
def ann(emu: TelegramEmulator, app: Application) -> Person:  # type: ignore[type-arg]
    return emu.user(1001, "Ann", language_code="en")


@pytest.fixture
def boris(emu: TelegramEmulator, app: Application) -> Person:  # type: ignore[type-arg]
    return emu.user(1002, "Борис", language_code="ru")


async def linked(store: Store, person: Person, member_id: str = "m-1", **data: Any) -> str:
    """Register a member and link them to `person` through the /start deep link."""
    await member(store, member_id, **data)
    token = await links.create_token(store, member_id)
    await person.send(f"/start {token.token}")
    return member_id

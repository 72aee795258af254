"""Fixtures for member conversations: the real Application on the Telegram emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from telegram.ext import Application
from telegram.request import BaseRequest

from bot.application import build_application, start_up
from bot.config import Config, parse_config
from bot.ratelimit import REAL_TIME, Timer
from bot.sender import send_queue
from loyalty.clock import ManualClock
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


# Conversations run at Telegram's real limits (the emulator's defaults: a private chat's
# burst of 5, then one a second; 20 a minute per group) on a hand clock: the bot waits out
# every 429 and the group's budget through `hand_timer`, which moves the emulator's clock
# instead of sleeping, so a long conversation takes no real time and loses nothing.
REAL_LIMITS = RateLimits()


class FollowingClock(EmulatorClock):
    """The emulator's hand clock, which also moves when the test moves the store's clock.

    Telegram's limits refill with time: a reminder sent "a week later" in a test finds a
    private chat's burst full again, as it would. The bot's own waits move it on as well.
    """

    def __init__(self, store_clock: ManualClock) -> None:
        super().__init__()
        self._store_clock = store_clock
        self._store_start = store_clock()
        self._seen = 0.0

    def __call__(self) -> float:
        passed = (self._store_clock() - self._store_start).total_seconds()
        self._seen = max(self._seen, passed)  # the store's clock may be set back; this not
        return super().__call__() + self._seen


@pytest.fixture
async def emu(clock: ManualClock) -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(
        bot_username="loyalty_test_bot", clock=FollowingClock(clock), limits=REAL_LIMITS
    )
    yield emulator
    await emulator.aclose()


def hand_timer(emu: TelegramEmulator) -> Timer:
    """The bot's waiting on the emulator's hand clock: a wait moves the clock, at once."""
    clock = emu.clock
    if not isinstance(clock, EmulatorClock):
        return REAL_TIME  # an emulator on real time (the rate limiter's own tests)
    return Timer(now=clock, sleep=clock.sleep, manual=True)


@asynccontextmanager
async def running_app(
    emu: TelegramEmulator, store: Store, config: Config, request: BaseRequest | None = None
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """Run the real Application on the emulator at real limits; each person's action returns
    once the update was handled and what it queued was sent (a second one models a restart)."""
    application = build_application(
        config, store, request or EmulatorRequest(emu), token=emu.token, timer=hand_timer(emu)
    )
    emu.connect(application, raise_errors=True)
    drain = send_queue(application).drain
    emu.after_update.append(drain)
    try:
        async with application:
            await start_up(application)
            yield application
    finally:
        if drain in emu.after_update:  # a test may have held the queue
            emu.after_update.remove(drain)


@pytest.fixture
async def app(
    emu: TelegramEmulator, bot_store: Store, config: Config
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    async with running_app(emu, bot_store, config) as application:
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


async def process_backlog(emu: TelegramEmulator, app: Application) -> None:  # type: ignore[type-arg]
    """Start again after a stop: fetch what waited in Telegram's queue, handle it in order,
    then go back to direct delivery."""
    offset = None
    while True:
        updates = await app.bot.get_updates(offset=offset, timeout=0)
        if not updates:
            break
        for update in updates:
            await app.process_update(update)
            for settle in list(emu.after_update):  # the send queue, as in direct delivery
                await settle()
        offset = updates[-1].update_id + 1
    emu.connect(app, raise_errors=True)

"""The agents' group is upgraded to a supergroup (Topics turned on) and gets a new id: the bot
follows it (Telegram's ChatMigrated) instead of failing, and says so to the operator."""

from __future__ import annotations

import logging

import pytest
from telegram.ext import Application

from bot.config import Config
from handlers.context import SERVICES_KEY
from storage.store import Store
from telegram_emulator import Group, Person, TelegramEmulator
from tests.bot.support_kit import (  # noqa: F401 (fixtures, found by name)
    AGENTS,
    agnes_fixture,
    app_fixture,
    ask,
    desk_fixture,
    only_topic,
    support_config,
    ticket_of,
)

UPGRADED = -1009000000001


@pytest.fixture
def config() -> Config:
    return support_config()


async def test_the_first_ticket_after_the_upgrade_follows_the_group_to_its_new_id(
    emu: TelegramEmulator,
    app: Application,  # type: ignore[type-arg]
    ann: Person,
    agnes: Person,
    desk: Group,
    bot_store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emu.connect(app, raise_errors=False)  # the first try fails, by design
    moved = emu.upgrade_group(desk, UPGRADED)
    with caplog.at_level(logging.WARNING):
        await ask(ann, "Where are my points?")
    assert moved.chat_id == UPGRADED
    thread = only_topic(moved).thread_id
    assert moved.messages(thread)[-1].text == "Where are my points?"
    assert "Sorry, something went wrong" not in [m.text for m in ann.bot_messages()]
    assert (await ticket_of(bot_store, ann)).chat_id == UPGRADED
    moves = [getattr(r, "kv", {}) for r in caplog.records]
    assert {"event": "agent_chat_migrated", "old": AGENTS, "new": UPGRADED} in moves
    services = app.bot_data[SERVICES_KEY]
    assert services.support.agent_chat_id == UPGRADED
    await agnes.send("Let me look", chat=moved, thread_id=thread)  # the agents' side follows too
    assert ann.last_reply().text == "Let me look"

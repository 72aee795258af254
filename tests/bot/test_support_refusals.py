"""Live chat taps Telegram no longer takes an answer for: a rating or "problem solved" handled
from the backlog after a restart still reaches the member and the agents' topic."""

from __future__ import annotations

import pytest
from telegram.ext import Application

from bot.config import Config
from storage.store import Store
from telegram_emulator import Group, Person, TelegramEmulator
from telegram_emulator import ManualClock as EmulatorClock
from tests.bot.conftest import process_backlog
from tests.bot.support_kit import (  # noqa: F401 (fixtures, found by name)
    app_fixture,
    ask,
    bruno_fixture,
    desk_fixture,
    only_topic,
    support_config,
    ticket_of,
)


@pytest.fixture
def config() -> Config:
    return support_config()


async def test_a_rating_tapped_too_late_still_lands(
    emu: TelegramEmulator,
    app: Application,  # type: ignore[type-arg]
    ann: Person,
    bruno: Person,
    desk: Group,
    bot_store: Store,
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    await bruno.send("/close", chat=desk, thread_id=thread)
    prompt = ann.last_reply()
    emu.disconnect()
    assert await ann.press("4 ⭐", timeout=0) is None
    assert isinstance(emu.clock, EmulatorClock)
    emu.clock.advance(20)  # past the 15 s Telegram takes an answer in
    await process_backlog(emu, app)
    assert ann.last_reply().text == "Thank you for your rating: 4 of 5. ⭐"
    assert ann.last_reply().message_id == prompt.message_id  # the prompt says it, in place
    assert desk.messages(thread)[-1].text == "⭐ The member rated the help 4/5."
    assert (await ticket_of(bot_store, ann)).rating == 4


async def test_a_second_rating_tapped_too_late_is_told_as_a_message(
    emu: TelegramEmulator,
    app: Application,  # type: ignore[type-arg]
    ann: Person,
    bruno: Person,
    desk: Group,
    bot_store: Store,
) -> None:
    await ask(ann)
    await bruno.send("/close", chat=desk, thread_id=only_topic(desk).thread_id)
    prompt = ann.last_reply()
    await ann.press("4 ⭐")
    emu.disconnect()
    ticket = await ticket_of(bot_store, ann)
    assert await ann.press_data(f"sup:rate:{ticket.id}:1", message=prompt, timeout=0) is None
    assert isinstance(emu.clock, EmulatorClock)
    emu.clock.advance(20)
    await process_backlog(emu, app)
    # The alert could not be shown any more: the member reads it as a message.
    assert ann.last_reply().text == "You have already rated this request. Thank you!"
    assert (await ticket_of(bot_store, ann)).rating == 4

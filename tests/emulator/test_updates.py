"""getUpdates semantics in queue mode: offsets, long polling, allowed_updates, conflicts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram import Bot
from telegram.error import Conflict

from telegram_emulator import EmulatorRequest, Person, TelegramEmulator


@pytest.fixture
async def polling_bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    async with Bot(
        emu.token, request=EmulatorRequest(emu), get_updates_request=EmulatorRequest(emu)
    ) as bot:
        yield bot


async def test_offset_confirms_updates(
    emu: TelegramEmulator, polling_bot: Bot, ann: Person
) -> None:
    assert emu.delivery == "queue"
    await ann.send("one")
    await ann.send("two")
    updates = await polling_bot.get_updates()
    assert [u.message.text for u in updates] == ["one", "two"]
    assert [u.message.text for u in await polling_bot.get_updates(limit=1)] == ["one"]
    rest = await polling_bot.get_updates(offset=updates[0].update_id + 1)
    assert [u.message.text for u in rest] == ["two"]
    assert await polling_bot.get_updates(offset=updates[1].update_id + 1) == ()


async def test_long_poll_wakes_on_a_new_update(polling_bot: Bot, ann: Person) -> None:
    poll = asyncio.create_task(polling_bot.get_updates(timeout=30))
    await asyncio.sleep(0)  # let the poll start waiting
    assert not poll.done()
    await ann.send("wake up")
    # Had the poll not been woken it would run for 30 s; the test's own timeout guards that.
    async with asyncio.timeout(5):
        updates = await poll
    assert [u.message.text for u in updates] == ["wake up"]


async def test_a_second_poll_ends_the_first(polling_bot: Bot) -> None:
    first = asyncio.create_task(polling_bot.get_updates(timeout=30))
    await asyncio.sleep(0)
    second = asyncio.create_task(polling_bot.get_updates(timeout=0))
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        async with asyncio.timeout(5):
            await first
    assert await second == ()


async def test_allowed_updates_filter(polling_bot: Bot, ann: Person) -> None:
    await polling_bot.get_updates(allowed_updates=["callback_query"])
    await ann.send("ignored")
    assert await polling_bot.get_updates() == ()  # Telegram remembers the last list
    await polling_bot.send_message(
        ann.id, "menu", reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    )
    await ann.press("A", timeout=0)
    (update,) = await polling_bot.get_updates()
    assert update.callback_query.data == "a"


async def test_get_updates_refused_while_a_webhook_is_set(polling_bot: Bot) -> None:
    await polling_bot.set_webhook("https://bot.example/hook")
    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        await polling_bot.get_updates()
    await polling_bot.delete_webhook()
    assert await polling_bot.get_updates() == ()

"""Telegram away, tokens it rejects, messages the bot cannot reach, groups that move, and
refusals on demand: each comes back as PTB's exception or Telegram's own update shape."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from telegram import Bot, Update
from telegram.error import BadRequest, ChatMigrated, InvalidToken, NetworkError, TimedOut
from telegram.ext import Application

from telegram_emulator import ManualClock, Person, TelegramEmulator, serve
from tests.emulator.conftest import api_error


async def test_a_press_on_a_deleted_message_carries_an_inaccessible_message(
    emu: TelegramEmulator, bot: Bot, started: Person
) -> None:
    await started.send("/menu")
    menu = started.last_reply()
    await bot.delete_message(started.id, menu.message_id)
    answer = await started.press("Coupons", message=menu)
    assert answer is not None and answer.text == "No coupons yet"
    raw = emu.update_log[-1]["callback_query"]["message"]
    assert raw["date"] == 0 and raw["message_id"] == menu.message_id
    # PTB 22 parses it as a Message dated 0, which is how `is_accessible` tells them apart.
    parsed = Update.de_json(emu.update_log[-1], bot).callback_query
    assert parsed is not None and parsed.message is not None
    assert not parsed.message.is_accessible


async def test_old_messages_become_inaccessible(
    emu: TelegramEmulator, bot: Bot, started: Person, clock: ManualClock
) -> None:
    await started.send("/menu")
    menu = started.last_reply()
    emu.inaccessible_after = 48 * 3600
    clock.advance(48 * 3600)
    await started.press("Coupons", message=menu)
    assert emu.update_log[-1]["callback_query"]["message"]["date"] == 0
    with api_error(emu, BadRequest, 400, "Bad Request: message to edit not found"):
        await bot.edit_message_text("late", chat_id=started.id, message_id=menu.message_id)


@pytest.mark.parametrize(
    ("outage", "error", "message"),
    [
        ("refused", NetworkError, "httpx.ConnectError: All connection attempts failed"),
        ("timeout", TimedOut, "Timed out"),
        ("bad_gateway", NetworkError, "Bad Gateway"),
    ],
)
async def test_telegram_away_until_it_comes_back(
    emu: TelegramEmulator, bot: Bot, outage: Any, error: type[Exception], message: str
) -> None:
    emu.go_down(outage)
    with pytest.raises(error) as caught:
        await bot.get_me()
    assert type(caught.value) is error and str(caught.value) == message
    emu.come_back()
    assert (await bot.get_me()).username == emu.bot_username


async def test_a_revoked_token_is_rejected(emu: TelegramEmulator, bot: Bot) -> None:
    fresh = emu.revoke_token()
    assert fresh != bot.token and fresh.startswith(f"{emu.bot_id}:")
    with pytest.raises(InvalidToken):
        await bot.get_me()


async def test_a_refusal_on_demand_comes_once(
    emu: TelegramEmulator, bot: Bot, started: Person
) -> None:
    emu.refuse_next("sendMessage", "Bad Request: can't parse entities: bad tag")
    with api_error(emu, BadRequest, 400, "Bad Request: can't parse entities: bad tag"):
        await bot.send_message(started.id, "one")
    await bot.send_message(started.id, "two")
    assert started.last_reply().text == "two"


async def test_an_upgraded_group_answers_with_its_new_id(
    emu: TelegramEmulator, app: Application[Any, Any, Any, Any, Any, Any]
) -> None:
    group = emu.supergroup(-4001, "Support", forum=False)
    moved = emu.upgrade_group(group, -1009000000001)
    assert moved.chat_id == -1009000000001 and moved.record.is_forum
    with pytest.raises(ChatMigrated) as caught:
        await app.bot.send_message(-4001, "hello")
    assert caught.value.new_chat_id == -1009000000001
    await app.bot.send_message(-1009000000001, "hello")
    assert moved.last_bot_message().text == "hello"


async def test_outages_over_http(emu: TelegramEmulator) -> None:
    async with serve(emu) as base_url, httpx.AsyncClient() as client:
        control = base_url.removesuffix("/bot") + "/_emulator/outage"
        get_me = f"{base_url}{emu.token}/getMe"
        assert (await client.post(control, json={"outage": "bad_gateway"})).status_code == 200
        assert (await client.post(get_me)).status_code == 502
        await client.post(control, json={"outage": "timeout"})
        held = asyncio.create_task(client.post(get_me))
        await asyncio.sleep(0)  # the call is under way (held until Telegram is back)
        assert not held.done()
        await client.post(control, json={"outage": None})
        assert (await held).status_code == 504
        assert (await client.post(get_me)).json()["result"]["username"] == emu.bot_username
        wrong = await client.post(control, json={"outage": "refused"})
        assert wrong.status_code == 400

"""When Telegram says no to the bot: late callback answers, messages it cannot reach any more,
400s, and Telegram away. What a member did is never lost; they always hear of it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram.ext import Application

from bot.application import build_application, start_up
from bot.config import Config
from bot.sender import send_queue
from loyalty.clock import ManualClock
from storage import coupons, grants, members
from storage.store import Store
from telegram_emulator import (
    EmulatorHandlerError,
    EmulatorRequest,
    Person,
    RateLimits,
    TelegramEmulator,
)
from telegram_emulator import ManualClock as EmulatorClock
from tests.bot.conftest import linked, process_backlog
from tests.conftest import open_store

CONFIRM, TEN = "✅ Confirm", "$10.00 · 1,000 points"


async def rich(store: Store, person: Person, member_id: str) -> None:
    await linked(store, person, member_id)
    await grants.grant(store, member_id, 3000, reason="test", actor="test")


def emulator_clock(emu: TelegramEmulator) -> EmulatorClock:
    assert isinstance(emu.clock, EmulatorClock)
    return emu.clock


async def test_a_confirm_answered_too_late_still_brings_the_code(
    emu: TelegramEmulator, app: Application, ann: Person, bot_store: Store
) -> None:
    await rich(bot_store, ann, "m-1")
    await ann.send("/coupons")
    await ann.press(TEN)
    emu.disconnect()  # the bot is busy elsewhere: the tap waits in Telegram's queue
    assert await ann.press(CONFIRM, timeout=0) is None
    emulator_clock(emu).advance(20)  # past the 15 s Telegram accepts an answer in
    await process_backlog(emu, app)
    done, code = ann.bot_messages()[-2:]
    owned = await coupons.of_member(bot_store, "m-1")
    assert len(owned) == 1 and owned[0].code in code.text and code.protect_content
    assert "Your $10.00 coupon is ready" in done.text
    assert (await members.view(bot_store, "m-1")).points == 2000


@pytest.fixture
async def unthrottled(
    tmp_path: Path, clock: ManualClock, config: Config
) -> AsyncIterator[tuple[TelegramEmulator, Application, Store]]:
    """A bot with no flood limits on either side: this is about order and answers, not pace."""
    emu = TelegramEmulator(clock=EmulatorClock(), limits=RateLimits(enabled=False))
    store = await open_store(tmp_path / "backlog.db", config.program, clock)
    app = build_application(config, store, EmulatorRequest(emu), token=emu.token, rate_limiter=None)
    emu.connect(app, raise_errors=True)
    async with app:
        await start_up(app)
        yield emu, app, store
    await store.close()
    await emu.aclose()


async def test_a_restart_with_200_old_updates_confirms_every_exchange_once(
    unthrottled: tuple[TelegramEmulator, Application, Store], caplog: pytest.LogCaptureFixture
) -> None:
    emu, app, store = unthrottled
    people = [emu.user(2001 + n, f"M{n}") for n in range(40)]
    for n, person in enumerate(people):
        await rich(store, person, f"m-{n}")
        await person.send("/coupons")
        await person.press(TEN)
    marks = [person.mark() for person in people]
    emu.disconnect()  # the bot stops; what members do meanwhile waits in Telegram's queue
    for person in people:
        assert await person.press(CONFIRM, timeout=0) is None
        assert await person.press(CONFIRM, timeout=0) is None  # an impatient second tap
        for command in ("/me", "/daily", "/help"):
            await person.send(command)
    assert len(emu.updates.pending) == 200
    emulator_clock(emu).advance(60)  # the restart took a minute: every answer comes too late
    with caplog.at_level(logging.INFO):
        await process_backlog(emu, app)
    for n, person in enumerate(people):
        owned = await coupons.of_member(store, f"m-{n}")
        assert len(owned) == 1  # exactly one exchange for two taps
        assert (await members.view(store, f"m-{n}")).points == 2000 + 20  # and the check-in
        said = [m.text for m in person.messages_since(marks[n])]
        assert any(owned[0].code in text for text in said), said
        # The confirmation screen (sent before the stop) now says what happened, once.
        shown = [m.text for m in person.bot_messages()]
        assert sum("Your $10.00 coupon is ready" in text for text in shown) == 1
    assert "event=handler_error" not in caplog.text


async def test_a_check_in_tapped_too_late_is_still_shown(
    emu: TelegramEmulator, app: Application, ann: Person, bot_store: Store
) -> None:
    await linked(bot_store, ann)
    await ann.send("/me")
    emu.disconnect()
    assert await ann.press_data("nav:daily", timeout=0) is None
    emulator_clock(emu).advance(20)
    await process_backlog(emu, app)
    assert "Checked in!" in ann.last_reply().text
    assert (await members.view(bot_store, "m-1")).points == 20


async def test_a_button_on_a_deleted_message_gets_a_fresh_screen(
    emu: TelegramEmulator, ann: Person, bot_store: Store
) -> None:
    await rich(bot_store, ann, "m-1")
    await ann.send("/coupons")
    menu = ann.last_reply()
    await emu.call("deleteMessage", chat_id=ann.id, message_id=menu.message_id)
    # Another of Ann's devices still shows the menu; her tap arrives as InaccessibleMessage.
    await ann.press(TEN, message=menu)
    confirm = ann.last_reply()
    assert confirm.message_id != menu.message_id
    assert "Exchange 1,000 points for a $10.00 coupon?" in confirm.text
    await ann.press(CONFIRM)
    assert len(await coupons.of_member(bot_store, "m-1")) == 1


async def test_a_button_on_an_old_message_gets_a_fresh_screen(
    emu: TelegramEmulator, ann: Person, bot_store: Store
) -> None:
    await linked(bot_store, ann)
    await ann.send("/me")
    old = ann.last_reply()
    emu.inaccessible_after = 48 * 3600
    emulator_clock(emu).advance(49 * 3600)
    await ann.press_data("nav:daily", message=old)
    assert ann.last_reply().message_id != old.message_id
    assert not old.edited
    assert "Checked in!" in ann.last_reply().text


async def test_a_400_from_telegram_gets_an_apology(
    emu: TelegramEmulator, ann: Person, bot_store: Store
) -> None:
    await linked(bot_store, ann)
    emu.refuse_next("sendMessage", "Bad Request: can't parse entities: unsupported start tag")
    with pytest.raises(EmulatorHandlerError):
        await ann.send("/me")
    assert "Sorry, something went wrong" in ann.last_reply().text


async def test_telegram_away_is_one_line_and_no_apology(
    emu: TelegramEmulator, ann: Person, bot_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    await linked(bot_store, ann)
    before = len(ann.bot_messages())
    emu.go_down("timeout")
    with caplog.at_level(logging.INFO):
        await ann.send("/me")  # the answer is queued, and (Telegram away too long) fails
    emu.come_back()
    assert len(ann.bot_messages()) == before
    lines = [r for r in caplog.records if r.name.startswith(("handlers", "bot"))]
    assert [r.getMessage() for r in lines] == [
        "telegram unreachable",
        "answer queued",
        "send failed",
    ]
    assert all(r.exc_info is None for r in lines)
    await ann.send("/me")  # back: no restart needed
    assert len(ann.bot_messages()) == before + 1


async def test_a_confirm_while_telegram_times_out_brings_the_code_once_it_is_back(
    emu: TelegramEmulator,
    app: Application,  # type: ignore[type-arg]
    ann: Person,
    bot_store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await rich(bot_store, ann, "m-1")
    await ann.send("/coupons")
    await ann.press(TEN)
    queue = send_queue(app)
    emu.after_update.remove(queue.drain)  # the queue goes on only once Telegram is back
    before = len(ann.bot_messages())
    emu.go_down("timeout")
    with caplog.at_level(logging.WARNING):
        await ann.press(CONFIRM, timeout=0)  # the exchange happens; no answer gets through
    assert len(ann.bot_messages()) == before
    assert [getattr(r, "kv", {}).get("event") for r in caplog.records].count("answer_queued") == 2
    emu.come_back()
    await queue.drain()
    owned = await coupons.of_member(bot_store, "m-1")
    done, code = ann.bot_messages()[-2:]
    assert len(owned) == 1 and owned[0].code in code.text and code.protect_content
    assert "Your $10.00 coupon is ready" in done.text
    assert len(ann.bot_messages()) == before + 2  # each once
    assert (await members.view(bot_store, "m-1")).points == 2000

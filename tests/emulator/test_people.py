"""People drive a real Application in direct mode: commands, buttons, edits, files, menus."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Bot
from telegram.ext import Application

from telegram_emulator import EmulatorHandlerError, ManualClock, Person, TelegramEmulator
from tests.emulator.sample_bot import set_commands

App = Application[Any, Any, Any, Any, Any, Any]


async def test_echo_and_replies(ann: Person, app: App) -> None:
    sent = await ann.send("hello there")
    reply = ann.last_reply()
    assert reply.text == "hello there" and reply.from_bot
    assert reply.message_id == sent.message_id + 1
    assert [r.text for r in ann.replies()] == ["hello there"]


async def test_command_with_deep_link_argument(
    emu: TelegramEmulator, ann: Person, app: App
) -> None:
    await ann.send("/start TOKEN123")
    assert ann.last_reply().text == "Welcome, Ann! token=TOKEN123"
    message = emu.update_log[-1]["message"]
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert message["from"]["language_code"] == "en"


async def test_command_addressed_to_a_bot(emu: TelegramEmulator, ann: Person, app: App) -> None:
    await ann.send("/start@loyalty_test_bot abc")
    assert ann.last_reply().text == "Welcome, Ann! token=abc"
    assert emu.update_log[-1]["message"]["entities"][0]["length"] == len("/start@loyalty_test_bot")
    mark = ann.mark()
    await ann.send("/start@some_other_bot abc")  # CommandHandler ignores other bots' commands
    assert ann.messages_since(mark) == []


async def test_button_press_answers_and_edits(ann: Person, app: App) -> None:
    await ann.send("/menu")
    menu = ann.last_reply()
    assert menu.text == "Your account\nPick one:"
    assert menu.html == "<b>Your account</b>\nPick one:"
    assert menu.protect_content
    assert menu.button_labels == ["Balance", "Coupons", "Shop"]
    assert menu.buttons[1][0].url == "https://shop.example/"

    answer = await ann.press("Balance")
    assert answer is not None
    assert (answer.text, answer.show_alert) == ("You have 10 points", False)
    assert (
        menu.edited
        and menu.text == "Balance: 10 points"
        and menu.html == "Balance: <i>10</i> points"
    )
    assert menu.buttons == []  # the edit sent no reply_markup, so the keyboard is gone
    assert ann.replies() == []  # an edit is not a new message


async def test_pressing_what_is_not_there(ann: Person, app: App) -> None:
    await ann.send("/menu")
    with pytest.raises(LookupError, match="Balance"):
        await ann.press("Nope")
    with pytest.raises(ValueError, match="url button"):
        await ann.press("Shop")


async def test_forged_callback_data_reaches_the_bot(ann: Person, app: App) -> None:
    await ann.send("/menu")
    answer = await ann.press_data("admin:grant:1000000")
    assert answer is not None and answer.text == "Unknown button" and answer.show_alert


async def test_blocking_the_bot(emu: TelegramEmulator, bot: Bot, started: Person) -> None:
    started.block()
    with pytest.raises(RuntimeError, match="unblock"):
        await started.send("hi")
    started.unblock()
    await started.send("hi again")
    assert started.last_reply().text == "hi again"


async def test_files_round_trip(emu: TelegramEmulator, ann: Person, app: App) -> None:
    photo = await ann.send_photo("look /start")
    echoed = ann.last_reply()
    assert (echoed.kind, echoed.file_id, echoed.text) == ("photo", photo.file_id, "look /start")
    update = emu.update_log[-1]["message"]
    assert [size["width"] for size in update["photo"]] == [90, 1280]
    assert update["caption_entities"] == [{"type": "bot_command", "offset": 5, "length": 6}]

    document = await ann.send_document(file_name="receipt.pdf")
    assert ann.last_reply().file_id == document.file_id
    assert emu.update_log[-1]["message"]["document"]["file_name"] == "receipt.pdf"

    voice = await ann.send_voice(duration=7)
    assert ann.last_reply().kind == "voice" and ann.last_reply().file_id == voice.file_id
    assert emu.update_log[-1]["message"]["voice"]["duration"] == 7


async def test_bot_uploads_get_file_ids(bot: Bot, started: Person) -> None:
    sent = await bot.send_document(started.id, b"%PDF-1.4 fake", filename="statement.pdf")
    assert sent.document.file_name == "statement.pdf" and sent.document.file_size == 13
    again = await bot.send_document(started.id, sent.document.file_id)
    assert again.document.file_id == sent.document.file_id
    photo = await bot.send_photo(
        started.id, b"\x89PNG fake", caption="<b>hi</b>", parse_mode="HTML"
    )
    assert started.last_reply().file_id == photo.photo[-1].file_id
    assert started.last_reply().text == "hi"


async def test_command_menus_per_language(emu: TelegramEmulator, app: App, bot: Bot) -> None:
    await set_commands(app)
    ann = emu.user(1001, "Ann", language_code="en")
    gerd = emu.user(1002, "Gerd", language_code="de")
    assert [c["description"] for c in ann.menu_commands()] == ["Start", "Your account"]
    assert [c["description"] for c in gerd.menu_commands()] == ["Starten", "Dein Konto"]
    assert [c.command for c in await bot.get_my_commands()] == ["start", "menu"]
    assert await bot.get_my_commands(language_code="de") == ()  # de is set for private chats only
    await bot.delete_my_commands()
    assert ann.menu_commands() == []


async def test_views_follow_deletion_and_pinning(bot: Bot, started: Person) -> None:
    sent = await bot.send_message(started.id, "temporary")
    view = started.last_reply()
    await bot.pin_chat_message(started.id, sent.message_id)
    assert view.pinned
    assert (await bot.get_chat(started.id)).pinned_message.message_id == sent.message_id
    await sent.delete()
    assert view.deleted and started.last_reply().text != "temporary"


async def test_handler_errors_surface(emu: TelegramEmulator, ann: Person, app: App) -> None:
    with pytest.raises(EmulatorHandlerError, match="boom"):
        await ann.send("/fail")
    emu.connect(app)  # without raise_errors the failure is only collected
    await ann.send("/fail")
    assert [str(e) for e in emu.handler_errors] == ["boom", "boom"]


async def test_dates_follow_the_injected_clock(
    emu: TelegramEmulator, ann: Person, app: App, clock: ManualClock
) -> None:
    first = await ann.send("one")
    clock.advance(3600)
    second = await ann.send("two")
    assert second.to_dict()["date"] - first.to_dict()["date"] == 3600
    assert emu.now().tzinfo is not None
